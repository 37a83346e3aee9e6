/**
 * The Java client of a Fovea server: {@link dev.fovea.client.FoveaClient} for single images, batches and model
 * descriptions, {@link dev.fovea.client.FrameStream} for video, {@link dev.fovea.client.Images} to build image
 * messages. The messages and stubs themselves are the generated {@code dev.fovea.v1} classes. No native code.
 */
package dev.fovea.client;

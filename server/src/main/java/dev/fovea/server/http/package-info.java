/**
 * The Open Inference Protocol over HTTP/REST (KServe v2 REST, Triton's binary tensor extension): a thin Netty adapter
 * that translates requests into the gRPC service's messages, calls that service's implementation and renders its
 * answers as JSON (and binary tensors). Nothing here validates tensors or schedules work.
 */
package dev.fovea.server.http;

package dev.fovea.server.repository;

/**
 * One row of Triton's repository index: a model's version (or the model, when no version is known) and its state,
 * in Triton's words: READY, UNAVAILABLE, LOADING or UNLOADING, with the reason when it does not serve.
 */
public record IndexRow(String name, String version, String state, String reason) {}

package dev.fovea.server.serving;

import dev.fovea.server.inference.Predictions;

/**
 * A protocol's response to a finished request, whose raw output bytes view {@code predictions}' native memory.
 * Ownership: whoever receives it sends (or copies) the response, then closes {@code predictions}, exactly once; the
 * gRPC services hand both to their marshaller, which frees the memory once the transport has written the bytes.
 */
public record Answer<T>(T response, Predictions predictions) {}

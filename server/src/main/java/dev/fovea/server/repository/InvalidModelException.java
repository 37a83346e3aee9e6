package dev.fovea.server.repository;

/** A model folder that cannot be served: the message says which file and what is wrong. */
final class InvalidModelException extends RuntimeException {

    InvalidModelException(String message) {
        super(message);
    }
}

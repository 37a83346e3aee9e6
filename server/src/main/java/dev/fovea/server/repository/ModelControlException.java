package dev.fovea.server.repository;

/** A load or unload request the repository refused or could not carry out; the message says why, for the caller. */
public final class ModelControlException extends RuntimeException {

    /** Why, so that each protocol can give it its code. */
    public enum Reason {
        /** The control mode does not allow this request. */
        NOT_ALLOWED,
        /** The request is malformed: a name that is not a folder directly under the repository, a bad config. */
        INVALID,
        /** No such model folder. */
        NOT_FOUND,
        /** The model's files did not load or warm up; whatever served before goes on serving. */
        LOAD_FAILED
    }

    private final Reason reason;

    ModelControlException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}

package dev.fovea.server.http;

import com.google.gson.stream.JsonWriter;
import dev.fovea.server.limits.ThrottledLog;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One HTTP response to send, and the memory it views ({@code afterWrite}: an inference's output tensors), which the
 * connection closes once the response has been written or has failed to be.
 */
record Reply(FullHttpResponse response, AutoCloseable afterWrite) {

    /** Client-caused failures are normal input; a flood of them must not flood the log. */
    private static final ThrottledLog log = new ThrottledLog(Logger.getLogger(Reply.class.getName()),
            Duration.ofSeconds(10));

    /** Inference-Header-Content-Length, Triton's name for the JSON part's length when binary data follows. */
    static final String HEADER_LENGTH = "Inference-Header-Content-Length";

    /**
     * The longest service message returned whole. The service quotes client strings it echoes in bounded form; this
     * bounds the whole message as well, so no path can make an error body as large as the request.
     */
    static final int MAX_ERROR_CHARS = 1024;

    interface JsonBody {
        void write(JsonWriter out) throws IOException;
    }

    static Reply json(HttpResponseStatus status, JsonBody body) {
        ByteBuf content = Unpooled.buffer();
        try (JsonWriter out = new JsonWriter(new OutputStreamWriter(new ByteBufOutputStream(content),
                StandardCharsets.UTF_8))) {
            body.write(out);
        } catch (IOException e) {
            content.release();
            throw new UncheckedIOException(e);
        }
        return of(status, content, HttpHeaderValues.APPLICATION_JSON.toString());
    }

    static Reply empty(HttpResponseStatus status) {
        return of(status, Unpooled.EMPTY_BUFFER, null);
    }

    static Reply of(HttpResponseStatus status, ByteBuf content, String contentType) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, content);
        if (contentType != null) {
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        }
        return new Reply(response, () -> {});
    }

    /** {@code {"error": message}} with {@code status}. */
    static Reply error(HttpResponseStatus status, String message) {
        return json(status, out -> out.beginObject().name("error").value(message).endObject());
    }

    /**
     * The error response for {@code failure}: the HTTP layer's own 400s, the service's statuses mapped by
     * {@link HttpErrors}, and for anything else a 500 that names no internals (the cause goes to the log).
     */
    static Reply failure(Throwable failure) {
        Throwable cause = failure;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (cause instanceof HttpErrors.BadRequest bad) {
            return error(HttpResponseStatus.BAD_REQUEST, bad.getMessage());
        }
        Status status = cause instanceof StatusRuntimeException e ? e.getStatus()
                : cause instanceof StatusException e ? e.getStatus() : null;
        if (status == null) {
            Throwable logged = cause;
            log.log(Level.WARNING, () -> "HTTP request failed: " + logged);
            return error(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error");
        }
        String description = status.getDescription() == null ? status.getCode().name() : status.getDescription();
        return error(HttpErrors.of(status.getCode()), description.length() <= MAX_ERROR_CHARS ? description
                : description.substring(0, MAX_ERROR_CHARS) + "… (" + description.length() + " chars)");
    }
}

package dev.fovea.server.http;

import dev.fovea.server.limits.ThrottledLog;
import io.grpc.Context;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One connection's requests, answered one at a time and in order (HTTP/1.1 pipelining requires it, and an
 * inference answers later, on another thread). Requests that arrive while one runs wait here; past
 * {@link #MAX_WAITING} the connection stops reading until they drain, so a pipelining client cannot queue unbounded
 * memory. Everything here runs on the connection's event loop; nothing blocks: an inference's reply is written when
 * its future completes. A connection that closes cancels the inference it was waiting for.
 */
final class HttpHandler extends ChannelInboundHandlerAdapter {

    static final int MAX_WAITING = 16;

    private static final ThrottledLog log = new ThrottledLog(Logger.getLogger(HttpHandler.class.getName()),
            Duration.ofSeconds(10));

    private final Routes routes;
    private final HttpAccess access;
    private final ArrayDeque<FullHttpRequest> waiting = new ArrayDeque<>();
    private boolean busy;
    private Context.CancellableContext inFlight;

    HttpHandler(Routes routes, HttpAccess access) {
        this.routes = routes;
        this.access = access;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object message) {
        if (!(message instanceof FullHttpRequest request)) {
            ReferenceCountUtil.release(message);
            return;
        }
        waiting.add(request);
        if (waiting.size() >= MAX_WAITING) {
            ctx.channel().config().setAutoRead(false);
        }
        if (!busy) {
            next(ctx);
        }
    }

    private void next(ChannelHandlerContext ctx) {
        FullHttpRequest request = waiting.poll();
        if (request == null) {
            ctx.channel().config().setAutoRead(true);
            return;
        }
        busy = true;
        boolean malformed = request.decoderResult().isFailure();
        boolean keepAlive = !malformed && HttpUtil.isKeepAlive(request);
        Context.CancellableContext context = Context.ROOT.withCancellation();
        inFlight = context;
        CompletableFuture<Reply> reply;
        try {
            Reply refused = malformed ? malformed(request.decoderResult().cause()) : access.refusal(request, ctx);
            reply = refused != null ? CompletableFuture.completedFuture(refused)
                    : routes.handle(request, context, ctx.alloc());
        } catch (RuntimeException e) {
            reply = CompletableFuture.failedFuture(e);
        } finally {
            request.release();
        }
        reply.whenComplete((done, failure) -> {
            try {
                ctx.executor().execute(() -> {
                    Reply answer;
                    try {
                        answer = done != null ? done : Reply.failure(failure);
                    } catch (RuntimeException e) {
                        log.log(Level.WARNING, () -> "HTTP error reply failed: " + e);
                        ctx.close();
                        return;
                    }
                    write(ctx, answer, keepAlive, context);
                });
            } catch (RejectedExecutionException e) {
                // The event loops stopped (shutdown) before the inference finished: free its outputs here.
                if (done != null) {
                    done.response().release();
                    closeQuietly(done.afterWrite());
                }
            }
        });
    }

    /** The codec's limits (4 KiB request line, 8 KiB headers) answer with their own codes; anything else is 400. */
    private static Reply malformed(Throwable cause) {
        if (cause instanceof TooLongHttpLineException) {
            return Reply.error(HttpResponseStatus.REQUEST_URI_TOO_LONG, "the request line is longer than 4096 bytes");
        }
        if (cause instanceof TooLongHttpHeaderException) {
            return Reply.error(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "the request headers are larger than 8192 bytes");
        }
        return Reply.error(HttpResponseStatus.BAD_REQUEST, "malformed HTTP request");
    }

    private void write(ChannelHandlerContext ctx, Reply reply, boolean keepAlive, Context.CancellableContext context) {
        var response = reply.response();
        HttpUtil.setContentLength(response, response.content().readableBytes());
        if (!keepAlive) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        ctx.writeAndFlush(response).addListener(written -> {
            closeQuietly(reply.afterWrite());
            context.close();
            inFlight = null;
            busy = false;
            if (!keepAlive || !written.isSuccess()) {
                ctx.close();
            } else {
                next(ctx);
            }
        });
    }

    private static void closeQuietly(AutoCloseable memory) {
        try {
            memory.close();
        } catch (Exception e) {
            log.log(Level.WARNING, () -> "freeing a response's memory failed: " + e);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (inFlight != null) {
            inFlight.close();
        }
        waiting.forEach(FullHttpRequest::release);
        waiting.clear();
        ctx.fireChannelInactive();
    }

    /**
     * An idle connection (no bytes either way for the idle timeout, see {@link HttpServer}) with no request in flight
     * is closed: each open connection holds a socket and buffers, and clients that keep many open and silent would
     * otherwise hold them forever. A connection waiting for a long inference stays open.
     */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
        if (event instanceof IdleStateEvent && !busy && waiting.isEmpty()) {
            ctx.close();
            return;
        }
        ctx.fireUserEventTriggered(event);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.log(Level.FINE, () -> "HTTP connection failed: " + cause);
        ctx.close();
    }
}

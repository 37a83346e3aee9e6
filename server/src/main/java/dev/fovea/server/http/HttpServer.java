package dev.fovea.server.http;

import dev.fovea.server.grpc.OpenInferenceService;
import dev.fovea.server.limits.ThrottledLog;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The HTTP/REST binding of the Open Inference Protocol (KServe v2 REST with Triton's extensions), on Netty, in front
 * of the same {@link OpenInferenceService} the gRPC listeners serve: its requests go through the same validation,
 * queues and batches.
 *
 * <p>Limits: a request line of at most 4 KiB, headers of at most 8 KiB, and a body of at most
 * {@code maxMessageBytes} (the gRPC limit): a larger declared body gets 413 before any of it is read, a chunked one
 * 413 as soon as it passes the limit. The decoded tensor of a JSON request is bounded by the same number.
 *
 * <p>TLS and bearer tokens ({@link HttpAccess}, the gRPC TCP listener's settings): the TLS handler goes first in the
 * pipeline, and {@link HttpHandler} checks the {@code Authorization} header before a request reaches a route.
 *
 * <p>Lifecycle: {@link #start} binds; {@link #stopAccepting} closes the listening socket (open connections finish their
 * requests); {@link #close} closes every connection and stops the event loops, waiting a bounded time.
 */
public final class HttpServer implements AutoCloseable {

    /** Open connections at most; more are closed as they are accepted, so idle clients cannot exhaust sockets. */
    static final int MAX_CONNECTIONS = 1024;
    /** A connection with no request in flight and no bytes either way for this long is closed. */
    static final Duration IDLE_TIMEOUT = Duration.ofMinutes(5);

    private static final ThrottledLog refusals = new ThrottledLog(Logger.getLogger(HttpServer.class.getName()),
            Duration.ofMinutes(1));

    private final EventLoopGroup group;
    private final Channel listener;

    private HttpServer(EventLoopGroup group, Channel listener) {
        this.group = group;
        this.listener = listener;
    }

    /**
     * Listens on {@code host:port} (0: a free port) with {@code threads} event loops, which parse and route but never
     * compute. Throws if the port cannot be bound.
     */
    public static HttpServer start(OpenInferenceService service, String host, int port, int maxMessageBytes,
            int threads, HttpAccess access) throws InterruptedException {
        return start(service, host, port, maxMessageBytes, threads, access, MAX_CONNECTIONS, IDLE_TIMEOUT);
    }

    /** With other connection limits, for tests. */
    static HttpServer start(OpenInferenceService service, String host, int port, int maxMessageBytes, int threads,
            HttpAccess access, int maxConnections, Duration idleTimeout) throws InterruptedException {
        Objects.requireNonNull(service, "service");
        Objects.requireNonNull(access, "access");
        Routes routes = new Routes(service, maxMessageBytes);
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory("fovea-http", true),
                NioIoHandler.newFactory());
        try {
            Channel listener = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        private final AtomicInteger open = new AtomicInteger();

                        @Override
                        protected void initChannel(SocketChannel channel) {
                            if (open.incrementAndGet() > maxConnections) {
                                open.decrementAndGet();
                                refusals.log(Level.WARNING, () -> "HTTP connections refused: " + maxConnections
                                        + " are open", false);
                                channel.close();
                                return;
                            }
                            channel.closeFuture().addListener(closed -> open.decrementAndGet());
                            channel.pipeline().addLast(new IdleStateHandler(0, 0, idleTimeout.toMillis(),
                                    TimeUnit.MILLISECONDS));
                            pipeline(channel, routes, maxMessageBytes, access);
                        }
                    })
                    .bind(new InetSocketAddress(host, port)).sync().channel();
            return new HttpServer(group, listener);
        } catch (RuntimeException | InterruptedException e) {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw e;
        }
    }

    private static void pipeline(SocketChannel channel, Routes routes, int maxMessageBytes, HttpAccess access) {
        if (access.tls() != null) {
            channel.pipeline().addLast(access.tls().newHandler(channel.alloc()));
        }
        channel.pipeline()
                .addLast(new HttpServerCodec(4096, 8192, 8192))
                .addLast(new BoundedAggregator(maxMessageBytes))
                .addLast(new HttpHandler(routes, access));
    }

    /** The port it listens on (the one picked when started on port 0). */
    public int port() {
        return ((InetSocketAddress) listener.localAddress()).getPort();
    }

    /** Stops accepting connections; requests on open connections go on. */
    public void stopAccepting() {
        listener.close().syncUninterruptibly();
    }

    @Override
    public void close() throws InterruptedException {
        stopAccepting();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
    }

    /**
     * Answers an oversized body with the same JSON error form as every other failure, as Netty's own aggregator does:
     * a keep-alive request whose body has not started keeps its connection (the aggregator discards the body as it
     * arrives, holding none of it); otherwise the connection closes after the 413.
     */
    private static final class BoundedAggregator extends HttpObjectAggregator {
        private final int maxBytes;

        BoundedAggregator(int maxBytes) {
            super(maxBytes);
            this.maxBytes = maxBytes;
        }

        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
            Reply reply = Reply.error(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "the request body is larger than "
                    + "the server's limit of " + maxBytes + " bytes (--max-message-bytes)");
            var response = reply.response();
            boolean close = oversized instanceof FullHttpMessage
                    || !HttpUtil.is100ContinueExpected(oversized) && !HttpUtil.isKeepAlive(oversized);
            response.headers().set(HttpHeaderNames.CONTENT_LENGTH, response.content().readableBytes());
            if (close) {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            }
            ctx.writeAndFlush(response).addListener(written -> {
                if (close || !written.isSuccess()) {
                    ctx.close();
                }
            });
        }
    }
}

package dev.fovea.client;

import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.Image;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.ListModelsRequest;
import dev.fovea.v1.LoadModelRequest;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.PixelFormat;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.Result;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.UnloadModelRequest;
import io.grpc.CallCredentials;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.AbstractStub;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A client of a Fovea server's {@code fovea.v1.InferenceService}.
 *
 * <pre>{@code
 * try (FoveaClient client = FoveaClient.forTarget("localhost:8001").defaultDeadline(Duration.ofSeconds(5)).build()) {
 *     Result result = client.predict("shapes-cnn", Path.of("cat.jpg"));
 * }
 * }</pre>
 *
 * <p><b>Errors.</b> Every call that reaches the server reports failure as a gRPC {@link StatusRuntimeException}
 * whose {@link Status.Code} is the one the service documents: NOT_FOUND for an unknown model, INVALID_ARGUMENT for
 * a bad image, UNAVAILABLE when the server cannot be reached or the model is not ready, RESOURCE_EXHAUSTED when the
 * server is full, DEADLINE_EXCEEDED when the default deadline passed, CANCELLED when the caller cancelled,
 * UNAUTHENTICATED when the server wants a {@link BearerToken} and got none or another.
 *
 * <p><b>Security.</b> Plaintext by default (a sidecar on loopback or a Unix socket). Against a server with TLS:
 * {@link Builder#useTransportSecurity()} (system CAs) or {@link Builder#trustedCertificates} (a private CA), plus
 * {@link Builder#clientCertificate} for mutual TLS and {@link Builder#bearerToken} for a token.
 *
 * <p><b>Ownership.</b> A client built by {@link #forTarget} owns its channel and {@link #close()} shuts it down. A
 * client built by {@link #using} borrows the caller's channel: close() leaves it open and the caller shuts it down.
 * Either way, calling a method of a closed client throws IllegalStateException.
 *
 * <p>A client is thread-safe; share one per server. Async results and stream callbacks run on the channel's
 * executor (gRPC's shared pool unless the channel was given another): do not block in them.
 */
public final class FoveaClient implements AutoCloseable {

    /** How long {@link #close()} lets calls in flight finish before it cancels them. */
    private static final Duration CLOSE_GRACE = Duration.ofSeconds(5);

    private final Channel channel;
    private final ManagedChannel ownedChannel;
    private final Duration defaultDeadline;
    private final InferenceServiceGrpc.InferenceServiceBlockingStub blockingStub;
    private final InferenceServiceGrpc.InferenceServiceStub asyncStub;
    private volatile boolean closed;

    private FoveaClient(Builder builder) {
        if (builder.channel != null) {
            this.channel = builder.channel;
            this.ownedChannel = null;
        } else {
            ManagedChannelBuilder<?> channelBuilder = Grpc.newChannelBuilder(builder.target, builder.credentials());
            if (builder.authority != null) {
                channelBuilder.overrideAuthority(builder.authority);
            }
            this.ownedChannel = channelBuilder.build();
            this.channel = ownedChannel;
        }
        this.defaultDeadline = builder.defaultDeadline;
        this.blockingStub = configured(InferenceServiceGrpc.newBlockingStub(channel), builder);
        this.asyncStub = configured(InferenceServiceGrpc.newStub(channel), builder);
    }

    private static <S extends AbstractStub<S>> S configured(S stub, Builder builder) {
        S limited = builder.maxInboundMessageSize > 0
                ? stub.withMaxInboundMessageSize(builder.maxInboundMessageSize) : stub;
        return builder.callCredentials != null ? limited.withCallCredentials(builder.callCredentials) : limited;
    }

    /**
     * Starts a client that opens its own channel to {@code target}, e.g. {@code "localhost:8001"} or any target
     * gRPC understands, e.g. {@code "dns:///fovea.internal:8001"}. The client owns the channel. Plaintext unless
     * {@link Builder#useTransportSecurity()}.
     */
    public static Builder forTarget(String target) {
        return new Builder(Objects.requireNonNull(target, "target"), null);
    }

    /**
     * Starts a client over a channel the caller made and keeps: {@link #close()} does not shut it down. Transport
     * settings belong to that channel: the TLS methods of the builder throw IllegalStateException (a bearer token
     * still applies).
     */
    public static Builder using(Channel channel) {
        return new Builder(null, Objects.requireNonNull(channel, "channel"));
    }

    /**
     * Runs one request as it is.
     *
     * @throws StatusRuntimeException when the call fails
     */
    public PredictResponse predict(PredictRequest request) {
        checkOpen();
        return blocking().predict(request);
    }

    /**
     * Sends the file's bytes (JPEG or PNG) unchanged; the server decodes them.
     *
     * @throws IOException when the file cannot be read
     * @throws StatusRuntimeException when the call fails
     */
    public Result predict(String model, Path imageFile) throws IOException {
        checkOpen();
        return predictOne(model, Images.file(imageFile));
    }

    /**
     * Sends the image's pixels as raw RGB (see {@link Images#of(BufferedImage)}); nothing is encoded.
     *
     * @throws StatusRuntimeException when the call fails
     */
    public Result predict(String model, BufferedImage image) {
        checkOpen();
        return predictOne(model, Images.of(image));
    }

    /**
     * Sends raw 8-bit pixels (see {@link Images#pixels}).
     *
     * @throws IllegalArgumentException when the sizes do not describe {@code data}
     * @throws StatusRuntimeException when the call fails
     */
    public Result predictPixels(String model, byte[] data, int width, int height, int rowStride, PixelFormat format) {
        checkOpen();
        return predictOne(model, Images.pixels(data, width, height, rowStride, format));
    }

    private Result predictOne(String model, Image image) {
        PredictResponse response = predict(PredictRequest.newBuilder().setModel(model).addImages(image).build());
        if (response.getResultsCount() != 1) {
            throw Status.INTERNAL.withDescription("the server returned " + response.getResultsCount()
                    + " results for one image").asRuntimeException();
        }
        return response.getResults(0);
    }

    /**
     * Runs one request without blocking. The future fails with a {@link StatusRuntimeException} when the call
     * does; cancelling it (this future, not a stage derived from it) cancels the call on the server. It completes
     * on the channel's executor.
     */
    public CompletableFuture<PredictResponse> predictAsync(PredictRequest request) {
        checkOpen();
        CallFuture<PredictRequest, PredictResponse> future = new CallFuture<>();
        withDeadline(asyncStub).predict(request, future);
        return future;
    }

    /**
     * The server's models, sorted by name.
     *
     * @throws StatusRuntimeException when the call fails
     */
    public List<ModelInfo> listModels() {
        checkOpen();
        return blocking().listModels(ListModelsRequest.getDefaultInstance()).getModelsList();
    }

    /**
     * One model's description.
     *
     * @throws StatusRuntimeException NOT_FOUND when the server has no such model, or when the call fails
     */
    public ModelInfo getModel(String name) {
        checkOpen();
        return blocking().getModel(GetModelRequest.newBuilder().setName(name).build());
    }

    /**
     * Loads model {@code name} of the server's repository, or reloads what changed of it; {@code configJson}, if not
     * empty, replaces its config.pbtxt (JSON of its layout's config message). Returns once the model serves, with its
     * description (the serving version in {@link ModelInfo#getVersion()}).
     *
     * @throws StatusRuntimeException UNAVAILABLE unless the server runs with --model-control-mode explicit;
     *     INVALID_ARGUMENT for a bad name or config; NOT_FOUND for no such folder; FAILED_PRECONDITION when the
     *     model failed to load (what served before goes on serving)
     */
    public ModelInfo loadModel(String name, String configJson) {
        checkOpen();
        return blocking().loadModel(LoadModelRequest.newBuilder().setName(name).setConfig(configJson).build());
    }

    /**
     * Unloads model {@code name}: returns once its queued requests ran and its memory is freed; its streams end
     * with UNAVAILABLE.
     *
     * @throws StatusRuntimeException UNAVAILABLE unless the server runs with --model-control-mode explicit
     */
    public ModelInfo unloadModel(String name) {
        checkOpen();
        return blocking().unloadModel(UnloadModelRequest.newBuilder().setName(name).build());
    }

    /**
     * Opens a StreamPredict call and sends {@code options} as its first message. Send frames with
     * {@link FrameStream#send}; responses and the final status go to {@code listener}. The default deadline does not
     * apply: a stream lasts until it is completed or cancelled. The caller must end the stream
     * ({@link FrameStream#complete()} or {@link FrameStream#cancel}); closing the client cancels it after a grace
     * period.
     */
    public FrameStream stream(StreamOptions options, FrameStream.Listener listener) {
        checkOpen();
        return RealFrameStream.start(asyncStub, options, listener);
    }

    /**
     * Closes the client. If it owns its channel, shuts the channel down: calls in flight get a few seconds to
     * finish and are then cancelled. A borrowed channel is left alone. Calling close again does nothing.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (ownedChannel == null) {
            return;
        }
        ownedChannel.shutdown();
        try {
            if (!ownedChannel.awaitTermination(CLOSE_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
                ownedChannel.shutdownNow();
            }
        } catch (InterruptedException e) {
            ownedChannel.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("closed");
        }
    }

    private InferenceServiceGrpc.InferenceServiceBlockingStub blocking() {
        return withDeadline(blockingStub);
    }

    private <S extends AbstractStub<S>> S withDeadline(S stub) {
        return defaultDeadline == null ? stub : stub.withDeadlineAfter(defaultDeadline.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** Settings for a {@link FoveaClient}; each method returns this builder. */
    public static final class Builder {

        private final String target;
        private final Channel channel;
        private TlsChannelCredentials.Builder tls;
        private String authority;
        private CallCredentials callCredentials;
        private int maxInboundMessageSize;
        private Duration defaultDeadline;

        private Builder(String target, Channel channel) {
            this.target = target;
            this.channel = channel;
        }

        /** Plaintext HTTP/2, the default: for a sidecar on localhost or a Unix socket. Drops any TLS setting. */
        public Builder usePlaintext() {
            checkOwnChannel();
            tls = null;
            return this;
        }

        /** TLS, trusting the JDK's CA certificates unless {@link #trustedCertificates} names others. */
        public Builder useTransportSecurity() {
            checkOwnChannel();
            if (tls == null) {
                tls = TlsChannelCredentials.newBuilder();
            }
            return this;
        }

        /**
         * TLS, trusting only the CAs of this PEM bundle to sign the server's certificate (a private CA).
         *
         * @throws IOException when the file cannot be read
         */
        public Builder trustedCertificates(Path caBundle) throws IOException {
            useTransportSecurity();
            tls.trustManager(caBundle.toFile());
            return this;
        }

        /**
         * TLS, presenting this client certificate chain (leaf first) and its PKCS#8 private key, both PEM, to a
         * server that requires mutual TLS ({@code --tls-client-ca}).
         *
         * @throws IOException when a file cannot be read
         */
        public Builder clientCertificate(Path certificateChain, Path privateKey) throws IOException {
            useTransportSecurity();
            tls.keyManager(certificateChain.toFile(), privateKey.toFile());
            return this;
        }

        /**
         * The name the server's certificate is checked against (and the :authority of calls), when it differs
         * from the target's host, e.g. a pod reached by IP whose certificate names its service.
         */
        public Builder overrideAuthority(String authority) {
            checkOwnChannel();
            this.authority = Objects.requireNonNull(authority, "authority");
            return this;
        }

        /** Sends {@code authorization: Bearer <token>} with every call (see {@link BearerToken}). */
        public Builder bearerToken(BearerToken token) {
            this.callCredentials = Objects.requireNonNull(token, "token");
            return this;
        }

        private ChannelCredentials credentials() {
            return tls == null ? InsecureChannelCredentials.create() : tls.build();
        }

        private void checkOwnChannel() {
            if (channel != null) {
                throw new IllegalStateException("transport settings belong to the channel passed to using()");
            }
        }

        /**
         * The largest response accepted, in bytes; gRPC's default is 4 MiB, enough unless responses carry large
         * output tensors. A larger response fails the call with RESOURCE_EXHAUSTED.
         */
        public Builder maxInboundMessageSize(int bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("maxInboundMessageSize must be positive: " + bytes);
            }
            maxInboundMessageSize = bytes;
            return this;
        }

        /**
         * The deadline of every unary call (predict, predictAsync, listModels, getModel), counted from the call's
         * start; a call past it fails with DEADLINE_EXCEEDED. Not applied to streams. Default: none.
         */
        public Builder defaultDeadline(Duration deadline) {
            if (deadline.isNegative() || deadline.isZero()) {
                throw new IllegalArgumentException("defaultDeadline must be positive: " + deadline);
            }
            defaultDeadline = deadline;
            return this;
        }

        public FoveaClient build() {
            return new FoveaClient(this);
        }
    }
}

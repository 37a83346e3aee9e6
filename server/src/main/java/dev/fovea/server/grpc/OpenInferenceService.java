package dev.fovea.server.grpc;

import dev.fovea.oip.CudaSharedMemoryRegisterRequest;
import dev.fovea.oip.CudaSharedMemoryRegisterResponse;
import dev.fovea.oip.CudaSharedMemoryStatusRequest;
import dev.fovea.oip.CudaSharedMemoryStatusResponse;
import dev.fovea.oip.CudaSharedMemoryUnregisterRequest;
import dev.fovea.oip.CudaSharedMemoryUnregisterResponse;
import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.LogSettingsRequest;
import dev.fovea.oip.LogSettingsResponse;
import dev.fovea.oip.ModelConfigRequest;
import dev.fovea.oip.ModelConfigResponse;
import dev.fovea.oip.ModelInferRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.oip.ModelMetadataRequest;
import dev.fovea.oip.ModelMetadataResponse;
import dev.fovea.oip.ModelReadyRequest;
import dev.fovea.oip.ModelReadyResponse;
import dev.fovea.oip.ModelStatisticsRequest;
import dev.fovea.oip.ModelStatisticsResponse;
import dev.fovea.oip.ModelStreamInferResponse;
import dev.fovea.oip.RepositoryIndexRequest;
import dev.fovea.oip.RepositoryIndexResponse;
import dev.fovea.oip.RepositoryModelLoadRequest;
import dev.fovea.oip.RepositoryModelLoadResponse;
import dev.fovea.oip.RepositoryModelUnloadRequest;
import dev.fovea.oip.RepositoryModelUnloadResponse;
import dev.fovea.oip.ServerLiveRequest;
import dev.fovea.oip.ServerLiveResponse;
import dev.fovea.oip.ServerMetadataRequest;
import dev.fovea.oip.ServerMetadataResponse;
import dev.fovea.oip.ServerReadyRequest;
import dev.fovea.oip.ServerReadyResponse;
import dev.fovea.oip.SystemSharedMemoryRegisterRequest;
import dev.fovea.oip.SystemSharedMemoryRegisterResponse;
import dev.fovea.oip.SystemSharedMemoryStatusRequest;
import dev.fovea.oip.SystemSharedMemoryStatusResponse;
import dev.fovea.oip.SystemSharedMemoryUnregisterRequest;
import dev.fovea.oip.SystemSharedMemoryUnregisterResponse;
import dev.fovea.oip.TraceSettingRequest;
import dev.fovea.oip.TraceSettingResponse;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.limits.ImageLimits;
import dev.fovea.server.logging.LogSettings;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.repository.IndexRow;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.server.serving.Answer;
import dev.fovea.server.serving.Dispatcher;
import dev.fovea.server.serving.Statuses;
import dev.fovea.server.sharedmemory.SharedMemoryRegistry;
import dev.fovea.server.tracing.Tracing;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * The Open Inference Protocol (KServe v2) gRPC service, {@code inference.GRPCInferenceService}, with Triton's
 * extensions that Fovea supports: streaming inference, model configuration, statistics, repository index, system
 * shared memory, classification, log settings and trace settings. It serves the same models through the same runners
 * as fovea.v1, so requests of both APIs batch together; the HTTP/REST binding ({@code dev.fovea.server.http}) calls
 * the same methods. Model control (load/unload) works in --model-control-mode explicit ({@link ModelControl}); CUDA
 * shared memory answers UNIMPLEMENTED with the reason.
 *
 * <p>A request may name a version that serves; without one it runs on the newest that serves.
 */
public final class OpenInferenceService extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {

    static final String SERVER_NAME = "fovea";

    private final Dispatcher dispatcher;
    private final ModelRepository repository;
    private final ServerMetrics metrics;
    private final SharedMemoryRegistry sharedMemory;
    private final ShutdownDrain shutdownDrain;
    private final OipInference inference;
    private final ModelControl modelControl;
    private final NativeMessageMarshaller<ModelInferRequest> inferRequests =
            new NativeMessageMarshaller<>(ModelInferRequest.getDefaultInstance());
    private final NativeResponseMarshaller<ModelInferResponse> inferResponses =
            new NativeResponseMarshaller<>(ModelInferResponse.getDefaultInstance());
    private final NativeResponseMarshaller<ModelStreamInferResponse> streamResponses =
            new NativeResponseMarshaller<>(ModelStreamInferResponse.getDefaultInstance());

    public OpenInferenceService(Dispatcher dispatcher, ModelRepository repository, ServerMetrics metrics,
            SharedMemoryRegistry sharedMemory, ImageLimits imageLimits, ShutdownDrain shutdownDrain) {
        this.dispatcher = Objects.requireNonNull(dispatcher, "dispatcher");
        this.repository = Objects.requireNonNull(repository, "repository");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        this.sharedMemory = Objects.requireNonNull(sharedMemory, "sharedMemory");
        this.shutdownDrain = Objects.requireNonNull(shutdownDrain, "shutdownDrain");
        this.inference = new OipInference(dispatcher, sharedMemory, Objects.requireNonNull(imageLimits, "imageLimits"));
        this.modelControl = new ModelControl(repository);
    }

    /**
     * The service with ModelInfer and ModelStreamInfer requests parsed into native memory (raw input bytes viewed in
     * place) and their raw outputs written from tensor memory; register this, not {@link #bindService()}. Calls that
     * start once the server is stopping get UNAVAILABLE.
     */
    public ServerServiceDefinition definition() {
        return shutdownDrain.refuseWhenDraining(new NativeMethods(bindService())
                .rebind(GRPCInferenceServiceGrpc.getModelInferMethod(), inferRequests, inferResponses)
                .rebind(GRPCInferenceServiceGrpc.getModelStreamInferMethod(), inferRequests, streamResponses)
                .build());
    }

    @Override
    public void serverLive(ServerLiveRequest request, StreamObserver<ServerLiveResponse> responses) {
        reply(responses, ServerLiveResponse.newBuilder().setLive(true).build());
    }

    /** Ready once the repository has loaded (the server starts listening only then). */
    @Override
    public void serverReady(ServerReadyRequest request, StreamObserver<ServerReadyResponse> responses) {
        reply(responses, ServerReadyResponse.newBuilder().setReady(true).build());
    }

    /**
     * Whether a model of the repository serves: NOT_FOUND for a name the repository does not hold (as Triton
     * answers), ready=false for one that failed to load or a version it does not have.
     */
    @Override
    public void modelReady(ModelReadyRequest request, StreamObserver<ModelReadyResponse> responses) {
        try {
            dispatcher.requireKnown(request.getName());
        } catch (StatusRuntimeException e) {
            responses.onError(e);
            return;
        }
        boolean ready = repository.find(request.getName(), request.getVersion()).isPresent();
        reply(responses, ModelReadyResponse.newBuilder().setReady(ready).build());
    }

    @Override
    public void serverMetadata(ServerMetadataRequest request, StreamObserver<ServerMetadataResponse> responses) {
        String version = OpenInferenceService.class.getPackage().getImplementationVersion();
        ServerMetadataResponse.Builder metadata = ServerMetadataResponse.newBuilder().setName(SERVER_NAME)
                .setVersion(version == null ? "development" : version)
                .addExtensions("classification").addExtensions("model_configuration").addExtensions("statistics")
                .addExtensions("model_repository").addExtensions("trace");
        if (sharedMemory.isEnabled()) {
            metadata.addExtensions("system_shared_memory");
        }
        reply(responses, metadata.build());
    }

    @Override
    public void modelMetadata(ModelMetadataRequest request, StreamObserver<ModelMetadataResponse> responses) {
        ServedModel model;
        try {
            model = dispatcher.model(request.getName(), request.getVersion());
        } catch (RuntimeException e) {
            responses.onError(Statuses.of(e).asRuntimeException());
            return;
        }
        reply(responses, OipReports.metadata(model));
    }

    @Override
    public void modelInfer(ModelInferRequest request, StreamObserver<ModelInferResponse> responses) {
        inference.infer(request, memoryOf(request), System.nanoTime(), "ModelInfer").whenComplete((answer,
                failure) -> {
            if (failure != null) {
                responses.onError(Statuses.of(failure).asRuntimeException());
                return;
            }
            inferResponses.send(responses, answer.response(), answer.predictions());
            responses.onCompleted();
            answer.trace().end(Status.OK);
        });
    }

    /**
     * ModelInfer for another protocol adapter (the HTTP binding): the same validation, queue, statistics and outcome
     * counting as the gRPC call. The request's bytes are copied into native memory before this returns, so the caller
     * may free what backs them then. The future fails with a {@link StatusRuntimeException}, at once for a request
     * refused before queueing.
     */
    public CompletableFuture<Answer<ModelInferResponse>> infer(ModelInferRequest request) {
        return inference.infer(request, RequestImages.Memory.of(null, sharedMemory), System.nanoTime(),
                "POST /v2/models/{model}/infer");
    }

    /**
     * Counts a ModelInfer that another adapter refused before it could call {@link #infer} (the HTTP binding's
     * unreadable bodies), as the gRPC calls' refusals are counted.
     */
    public void refused(String model, Status status, long startNanos) {
        dispatcher.finished(model, status, startNanos);
    }

    @Override
    public StreamObserver<ModelInferRequest> modelStreamInfer(StreamObserver<ModelStreamInferResponse> responses) {
        InferStream stream = new InferStream(inference, this::memoryOf,
                (ServerCallStreamObserver<ModelStreamInferResponse>) responses, streamResponses, shutdownDrain);
        stream.start();
        return stream;
    }

    private RequestImages.Memory memoryOf(ModelInferRequest request) {
        return RequestImages.Memory.of(inferRequests.takeMemory(request), sharedMemory);
    }

    @Override
    public void modelConfig(ModelConfigRequest request, StreamObserver<ModelConfigResponse> responses) {
        try {
            reply(responses, ModelConfigResponse.newBuilder()
                    .setConfig(dispatcher.model(request.getName(), request.getVersion()).servingConfig()).build());
        } catch (RuntimeException e) {
            responses.onError(Statuses.of(e).asRuntimeException());
        }
    }

    @Override
    public void modelStatistics(ModelStatisticsRequest request, StreamObserver<ModelStatisticsResponse> responses) {
        List<ServedModel> models;
        try {
            models = request.getName().isEmpty() ? repository.servedModels()
                    : List.of(dispatcher.model(request.getName(), request.getVersion()));
        } catch (RuntimeException e) {
            responses.onError(Statuses.of(e).asRuntimeException());
            return;
        }
        reply(responses, OipReports.statistics(models, metrics));
    }

    @Override
    public void repositoryIndex(RepositoryIndexRequest request, StreamObserver<RepositoryIndexResponse> responses) {
        if (!request.getRepositoryName().isEmpty()) {
            responses.onError(Status.NOT_FOUND.withDescription("repository_name "
                    + ClientText.quote(request.getRepositoryName())
                    + ": this server has one repository; leave the name empty").asRuntimeException());
            return;
        }
        RepositoryIndexResponse.Builder index = RepositoryIndexResponse.newBuilder();
        for (IndexRow row : repository.index()) {
            if (request.getReady() && !row.state().equals("READY")) {
                continue;
            }
            index.addModels(RepositoryIndexResponse.ModelIndex.newBuilder().setName(row.name())
                    .setVersion(row.version()).setState(row.state()).setReason(row.reason()));
        }
        reply(responses, index.build());
    }

    /** Triton's model control: in --model-control-mode explicit only (UNAVAILABLE otherwise, as Triton answers). */
    @Override
    public void repositoryModelLoad(RepositoryModelLoadRequest request,
            StreamObserver<RepositoryModelLoadResponse> responses) {
        ModelControl.reply(modelControl.load(request), responses,
                info -> RepositoryModelLoadResponse.getDefaultInstance());
    }

    @Override
    public void repositoryModelUnload(RepositoryModelUnloadRequest request,
            StreamObserver<RepositoryModelUnloadResponse> responses) {
        ModelControl.reply(modelControl.unload(request), responses,
                info -> RepositoryModelUnloadResponse.getDefaultInstance());
    }

    @Override
    public void systemSharedMemoryStatus(SystemSharedMemoryStatusRequest request,
            StreamObserver<SystemSharedMemoryStatusResponse> responses) {
        try {
            SystemSharedMemoryStatusResponse.Builder status = SystemSharedMemoryStatusResponse.newBuilder();
            for (SharedMemoryRegistry.RegionInfo region : sharedMemory.status(Callers.current(), request.getName())) {
                status.putRegions(region.name(), SystemSharedMemoryStatusResponse.RegionStatus.newBuilder()
                        .setName(region.name()).setKey(region.key()).setOffset(region.offset())
                        .setByteSize(region.byteSize()).build());
            }
            reply(responses, status.build());
        } catch (RuntimeException e) {
            responses.onError(Statuses.of(e).asRuntimeException());
        }
    }

    @Override
    public void systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest request,
            StreamObserver<SystemSharedMemoryRegisterResponse> responses) {
        try {
            sharedMemory.register(Callers.current(), request.getName(), request.getKey(), request.getOffset(),
                    request.getByteSize());
            reply(responses, SystemSharedMemoryRegisterResponse.getDefaultInstance());
        } catch (RuntimeException e) {
            responses.onError(Statuses.of(e).asRuntimeException());
        }
    }

    /** Unregisters one region, or every region when the name is empty (as Triton does). */
    @Override
    public void systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest request,
            StreamObserver<SystemSharedMemoryUnregisterResponse> responses) {
        try {
            sharedMemory.unregister(Callers.current(), request.getName());
            reply(responses, SystemSharedMemoryUnregisterResponse.getDefaultInstance());
        } catch (RuntimeException e) {
            responses.onError(Statuses.of(e).asRuntimeException());
        }
    }

    @Override
    public void logSettings(LogSettingsRequest request, StreamObserver<LogSettingsResponse> responses) {
        try {
            reply(responses, OipLogSettings.update(request, LogSettings.forRootLogger()));
        } catch (RuntimeException e) {
            responses.onError(Statuses.of(e).asRuntimeException());
        }
    }

    @Override
    public void traceSetting(TraceSettingRequest request, StreamObserver<TraceSettingResponse> responses) {
        try {
            String model = request.getModelName().isEmpty() ? null : request.getModelName();
            if (model != null) {
                dispatcher.requireKnown(model);
            }
            reply(responses, OipTraceSetting.update(request, model, dispatcher.tracing().control()));
        } catch (RuntimeException e) {
            responses.onError(Statuses.of(e).asRuntimeException());
        }
    }

    /** The server's tracing, for the HTTP binding to take the caller's trace context from its headers. */
    public Tracing tracing() {
        return dispatcher.tracing();
    }

    @Override
    public void cudaSharedMemoryStatus(CudaSharedMemoryStatusRequest request,
            StreamObserver<CudaSharedMemoryStatusResponse> responses) {
        responses.onError(noCudaSharedMemory());
    }

    @Override
    public void cudaSharedMemoryRegister(CudaSharedMemoryRegisterRequest request,
            StreamObserver<CudaSharedMemoryRegisterResponse> responses) {
        responses.onError(noCudaSharedMemory());
    }

    @Override
    public void cudaSharedMemoryUnregister(CudaSharedMemoryUnregisterRequest request,
            StreamObserver<CudaSharedMemoryUnregisterResponse> responses) {
        responses.onError(noCudaSharedMemory());
    }

    private static RuntimeException noCudaSharedMemory() {
        return Status.UNIMPLEMENTED.withDescription("CUDA shared memory is not supported; use system shared memory "
                + "(SystemSharedMemoryRegister)").asRuntimeException();
    }


    private static <T> void reply(StreamObserver<T> responses, T response) {
        responses.onNext(response);
        responses.onCompleted();
    }
}

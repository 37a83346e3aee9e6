package dev.fovea.server.http;

import com.google.gson.stream.JsonReader;
import com.google.protobuf.MessageOrBuilder;
import dev.fovea.oip.ModelConfigRequest;
import dev.fovea.oip.ModelInferResponse;
import dev.fovea.oip.ModelMetadataRequest;
import dev.fovea.oip.ModelReadyRequest;
import dev.fovea.oip.ModelStatisticsRequest;
import dev.fovea.oip.ModelRepositoryParameter;
import dev.fovea.oip.RepositoryIndexRequest;
import dev.fovea.oip.RepositoryIndexResponse;
import dev.fovea.oip.RepositoryModelLoadRequest;
import dev.fovea.oip.RepositoryModelUnloadRequest;
import dev.fovea.oip.ServerMetadataRequest;
import dev.fovea.oip.ServerReadyRequest;
import dev.fovea.oip.SystemSharedMemoryRegisterRequest;
import dev.fovea.oip.SystemSharedMemoryStatusRequest;
import dev.fovea.oip.SystemSharedMemoryStatusResponse;
import dev.fovea.oip.SystemSharedMemoryUnregisterRequest;
import dev.fovea.oip.TraceSettingRequest;
import dev.fovea.server.grpc.OpenInferenceService;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.serving.Answer;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufInputStream;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The KServe v2 / Triton REST routes, each a call of the Open Inference Protocol gRPC service's own method (so both
 * protocols share one implementation: validation, queues, statistics, outcomes) and a rendering of its answer:
 *
 * <pre>
 * GET  /v2/health/live | /v2/health/ready               200, or 400 when not
 * GET  /v2                                              server metadata
 * GET  /v2/models/stats                                 statistics of every model
 * GET  /v2/models/{m}[/versions/{v}][/ready|/config|/stats]
 * POST /v2/models/{m}[/versions/{v}]/infer
 * GET  /v2[/models/{m}]/trace/setting,  POST /v2[/models/{m}]/trace/setting
 * POST /v2/repository/index,  POST /v2/repository/models/{m}/load | /unload
 * GET  /v2/systemsharedmemory[/region/{r}]/status
 * POST /v2/systemsharedmemory/region/{r}/register | /unregister,  POST /v2/systemsharedmemory/unregister
 * </pre>
 *
 * A path it does not know is 404; a known path with another method is 405.
 */
final class Routes {

    private final OpenInferenceService service;
    private final long maxTensorBytes;

    Routes(OpenInferenceService service, long maxTensorBytes) {
        this.service = service;
        this.maxTensorBytes = maxTensorBytes;
    }

    /** An endpoint: the method it takes and what it does. */
    private record Endpoint(HttpMethod method, Supplier<CompletableFuture<Reply>> action) {}

    /** The reply to {@code request}; {@code context} carries the connection's cancellation to an inference. */
    CompletableFuture<Reply> handle(FullHttpRequest request, Context.CancellableContext context,
            ByteBufAllocator allocator) {
        List<String> path = segments(request.uri());
        Endpoint endpoint = endpoint(path, request, context, allocator);
        if (endpoint == null) {
            return CompletableFuture.completedFuture(Reply.error(HttpResponseStatus.NOT_FOUND, "no route for "
                    + ClientText.quote(new QueryStringDecoder(request.uri()).rawPath())));
        }
        if (!endpoint.method().equals(request.method())) {
            Reply reply = Reply.error(HttpResponseStatus.METHOD_NOT_ALLOWED, "use " + endpoint.method() + " here");
            reply.response().headers().set(HttpHeaderNames.ALLOW, endpoint.method().name());
            return CompletableFuture.completedFuture(reply);
        }
        return endpoint.action().get();
    }

    private static List<String> segments(String uri) {
        List<String> segments = new ArrayList<>();
        for (String raw : new QueryStringDecoder(uri).rawPath().split("/")) {
            if (!raw.isEmpty()) {
                segments.add(QueryStringDecoder.decodeComponent(raw));
            }
        }
        return segments;
    }

    private Endpoint endpoint(List<String> path, FullHttpRequest request, Context.CancellableContext context,
            ByteBufAllocator allocator) {
        if (path.isEmpty() || !path.getFirst().equals("v2")) {
            return null;
        }
        List<String> rest = path.subList(1, path.size());
        if (rest.isEmpty()) {
            return get(() -> call(service::serverMetadata, ServerMetadataRequest.getDefaultInstance(),
                    Routes::ok));
        }
        return switch (rest.getFirst()) {
            case "health" -> rest.size() != 2 ? null : switch (rest.get(1)) {
                case "live" -> get(() -> CompletableFuture.completedFuture(Reply.empty(HttpResponseStatus.OK)));
                case "ready" -> get(() -> call(service::serverReady, ServerReadyRequest.getDefaultInstance(),
                        ready -> readiness(ready.getReady())));
                default -> null;
            };
            case "models" -> models(rest.subList(1, rest.size()), request, context, allocator);
            case "repository" -> rest.size() == 2 && rest.get(1).equals("index")
                    ? post(() -> repositoryIndex(request)) : repositoryModel(rest.subList(1, rest.size()), request);
            case "systemsharedmemory" -> sharedMemory(rest.subList(1, rest.size()), request);
            case "trace" -> rest.size() == 2 && rest.get(1).equals("setting") ? traceSetting("", request) : null;
            default -> null;
        };
    }

    private Endpoint models(List<String> path, FullHttpRequest request, Context.CancellableContext context,
            ByteBufAllocator allocator) {
        if (path.size() == 1 && path.getFirst().equals("stats")) {
            return get(() -> call(service::modelStatistics, ModelStatisticsRequest.getDefaultInstance(),
                    Routes::ok));
        }
        if (path.isEmpty()) {
            return null;
        }
        String name = path.getFirst();
        String version = "";
        List<String> rest = path.subList(1, path.size());
        if (rest.size() >= 2 && rest.getFirst().equals("versions")) {
            version = rest.get(1);
            rest = rest.subList(2, rest.size());
        }
        if (version.isEmpty() && rest.size() == 2 && rest.getFirst().equals("trace")
                && rest.get(1).equals("setting")) {
            return traceSetting(name, request);
        }
        if (rest.size() > 1) {
            return null;
        }
        String v = version;
        if (rest.isEmpty()) {
            return get(() -> call(service::modelMetadata, ModelMetadataRequest.newBuilder().setName(name)
                    .setVersion(v).build(), Routes::ok));
        }
        return switch (rest.getFirst()) {
            case "ready" -> get(() -> call(service::modelReady, ModelReadyRequest.newBuilder().setName(name)
                    .setVersion(v).build(), ready -> readiness(ready.getReady())));
            case "config" -> get(() -> call(service::modelConfig, ModelConfigRequest.newBuilder().setName(name)
                    .setVersion(v).build(), config -> ok(config.getConfig())));
            case "stats" -> get(() -> call(service::modelStatistics, ModelStatisticsRequest.newBuilder()
                    .setName(name).setVersion(v).build(), Routes::ok));
            case "infer" -> post(() -> infer(name, v, request, context, allocator));
            default -> null;
        };
    }

    private Endpoint sharedMemory(List<String> path, FullHttpRequest request) {
        if (path.size() == 1) {
            return switch (path.getFirst()) {
                case "status" -> get(() -> sharedMemoryStatus(""));
                case "unregister" -> post(() -> call(service::systemSharedMemoryUnregister,
                        SystemSharedMemoryUnregisterRequest.getDefaultInstance(), done -> ok()));
                default -> null;
            };
        }
        if (path.size() != 3 || !path.getFirst().equals("region")) {
            return null;
        }
        String region = path.get(1);
        return switch (path.get(2)) {
            case "status" -> get(() -> sharedMemoryStatus(region));
            case "register" -> post(() -> {
                SystemSharedMemoryRegisterRequest.Builder register = SystemSharedMemoryRegisterRequest.newBuilder()
                        .setName(region);
                readObject(request, (in, name) -> {
                    switch (name) {
                        case "key" -> register.setKey(in.nextString());
                        case "offset" -> register.setOffset(JsonTensorData.integer(in.nextString(), "offset"));
                        case "byte_size" -> register.setByteSize(
                                JsonTensorData.integer(in.nextString(), "byte_size"));
                        default -> in.skipValue();
                    }
                });
                return call(service::systemSharedMemoryRegister, register.build(), done -> ok());
            });
            case "unregister" -> post(() -> call(service::systemSharedMemoryUnregister,
                    SystemSharedMemoryUnregisterRequest.newBuilder().setName(region).build(), done -> ok()));
            default -> null;
        };
    }

    /** Triton's trace extension: GET reads the settings, POST changes those its JSON object names. */
    private Endpoint traceSetting(String model, FullHttpRequest request) {
        if (!request.method().equals(HttpMethod.POST)) {
            return get(() -> call(service::traceSetting, TraceSettingRequest.newBuilder().setModelName(model)
                    .build(), TraceSettingsJson::render));
        }
        return post(() -> call(service::traceSetting, TraceSettingsJson.parse(request, model),
                TraceSettingsJson::render));
    }

    /** Triton's form: a JSON array of the regions. */
    private CompletableFuture<Reply> sharedMemoryStatus(String region) {
        return call(service::systemSharedMemoryStatus, SystemSharedMemoryStatusRequest.newBuilder()
                .setName(region).build(), (SystemSharedMemoryStatusResponse status) ->
                Reply.json(HttpResponseStatus.OK, json -> {
                    json.beginArray();
                    for (var entry : status.getRegionsMap().values()) {
                        ProtoJson.write(json, entry);
                    }
                    json.endArray();
                }));
    }

    /** Triton's form: a JSON array of the models; the body ({@code {"ready": true}}) is optional. */
    private CompletableFuture<Reply> repositoryIndex(FullHttpRequest request) {
        RepositoryIndexRequest.Builder index = RepositoryIndexRequest.newBuilder();
        readObject(request, (in, name) -> {
            switch (name) {
                case "ready" -> index.setReady(in.nextBoolean());
                case "repository_name" -> index.setRepositoryName(in.nextString());
                default -> in.skipValue();
            }
        });
        return call(service::repositoryIndex, index.build(), (RepositoryIndexResponse models) ->
                Reply.json(HttpResponseStatus.OK, json -> {
                    json.beginArray();
                    for (var model : models.getModelsList()) {
                        ProtoJson.write(json, model);
                    }
                    json.endArray();
                }));
    }

    /** Triton's model repository extension: {@code POST /v2/repository/models/{m}/load | unload}. */
    private Endpoint repositoryModel(List<String> path, FullHttpRequest request) {
        if (path.size() != 3 || !path.getFirst().equals("models")) {
            return null;
        }
        String name = path.get(1);
        return switch (path.get(2)) {
            case "load" -> post(() -> {
                RepositoryModelLoadRequest.Builder load = RepositoryModelLoadRequest.newBuilder().setModelName(name);
                readObject(request, (in, field) -> readParameters(in, field, load::putParameters));
                return call(service::repositoryModelLoad, load.build(), loaded -> ok());
            });
            case "unload" -> post(() -> {
                RepositoryModelUnloadRequest.Builder unload = RepositoryModelUnloadRequest.newBuilder()
                        .setModelName(name);
                readObject(request, (in, field) -> readParameters(in, field, unload::putParameters));
                return call(service::repositoryModelUnload, unload.build(), unloaded -> ok());
            });
            default -> null;
        };
    }

    /** {@code "parameters": {"config": "...", "unload_dependents": true}}: each value a string, bool or integer. */
    private static void readParameters(JsonReader in, String field,
            BiConsumer<String, ModelRepositoryParameter> parameters) throws IOException {
        if (!field.equals("parameters")) {
            in.skipValue();
            return;
        }
        in.beginObject();
        while (in.hasNext()) {
            String key = in.nextName();
            ModelRepositoryParameter.Builder value = ModelRepositoryParameter.newBuilder();
            switch (in.peek()) {
                case BOOLEAN -> value.setBoolParam(in.nextBoolean());
                case NUMBER -> value.setInt64Param(JsonTensorData.integer(in.nextString(), "parameters"));
                case STRING -> value.setStringParam(in.nextString());
                default -> throw JsonTensorData.bad("parameters[" + ClientText.quote(key)
                        + "]: must be a string, a boolean or an integer");
            }
            parameters.accept(key, value.build());
        }
        in.endObject();
    }

    private CompletableFuture<Reply> infer(String model, String version, FullHttpRequest request,
            Context.CancellableContext context, ByteBufAllocator allocator) {
        long start = System.nanoTime();
        InferRequests.Parsed parsed;
        try {
            String header = request.headers().get(Reply.HEADER_LENGTH);
            long jsonLength = header == null ? -1 : JsonTensorData.integer(header.trim(), Reply.HEADER_LENGTH);
            parsed = InferRequests.parse(model, version, request.content(), jsonLength, maxTensorBytes);
        } catch (HttpErrors.BadRequest e) {
            service.refused(model, Status.INVALID_ARGUMENT, start);
            throw e;
        }
        // The service copies the request's bytes before infer returns, so the body may be released after this.
        CompletableFuture<Answer<ModelInferResponse>> answer;
        try {
            answer = service.tracing().withParent(context, request.headers()::get)
                    .call(() -> service.infer(parsed.request()));
        } catch (Exception e) {
            answer = CompletableFuture.failedFuture(e);
        }
        return answer.thenApply(done -> {
            try {
                InferResponses.Body body = InferResponses.render(done.response(), parsed, allocator);
                Reply reply = Reply.of(HttpResponseStatus.OK, body.content(), body.jsonLength() < 0
                        ? HttpHeaderValues.APPLICATION_JSON.toString()
                        : HttpHeaderValues.APPLICATION_OCTET_STREAM.toString());
                if (body.jsonLength() >= 0) {
                    reply.response().headers().set(Reply.HEADER_LENGTH, body.jsonLength());
                }
                return new Reply(reply.response(), done);
            } catch (RuntimeException e) {
                done.predictions().close();
                done.trace().end(Status.fromThrowable(e));
                throw e;
            }
        });
    }

    interface Field {
        void read(JsonReader in, String name) throws IOException;
    }

    /** Reads a small JSON object body (an empty body is an empty object). */
    static void readObject(FullHttpRequest request, Field field) {
        if (request.content().readableBytes() == 0) {
            return;
        }
        try (JsonReader in = new JsonReader(new InputStreamReader(new ByteBufInputStream(request.content().slice()),
                StandardCharsets.UTF_8))) {
            in.beginObject();
            while (in.hasNext()) {
                field.read(in, in.nextName());
            }
            in.endObject();
        } catch (IOException | IllegalStateException | NumberFormatException e) {
            throw JsonTensorData.bad("invalid JSON: " + ClientText.quote(String.valueOf(e.getMessage())));
        }
    }

    /** A unary method of the gRPC service. */
    private interface Method<Q, T> {
        void call(Q request, StreamObserver<T> responses);
    }

    private static <Q, T> CompletableFuture<Reply> call(Method<Q, T> method, Q request, Function<T, Reply> render) {
        Unary<T> responses = new Unary<>();
        method.call(request, responses);
        return responses.result().thenApply(render);
    }

    private static Reply ok(MessageOrBuilder message) {
        return Reply.json(HttpResponseStatus.OK, out -> ProtoJson.write(out, message));
    }

    private static Reply ok() {
        return Reply.empty(HttpResponseStatus.OK);
    }

    private static Reply readiness(boolean ready) {
        return Reply.empty(ready ? HttpResponseStatus.OK : HttpResponseStatus.BAD_REQUEST);
    }

    private static Endpoint get(Supplier<CompletableFuture<Reply>> action) {
        return new Endpoint(HttpMethod.GET, action);
    }

    private static Endpoint post(Supplier<CompletableFuture<Reply>> action) {
        return new Endpoint(HttpMethod.POST, action);
    }
}

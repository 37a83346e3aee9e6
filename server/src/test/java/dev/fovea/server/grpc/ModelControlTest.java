package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.oip.GRPCInferenceServiceGrpc;
import dev.fovea.oip.ModelReadyRequest;
import dev.fovea.oip.ModelRepositoryParameter;
import dev.fovea.oip.RepositoryIndexRequest;
import dev.fovea.oip.RepositoryIndexResponse;
import dev.fovea.oip.RepositoryModelLoadRequest;
import dev.fovea.oip.RepositoryModelUnloadRequest;
import dev.fovea.server.ModelFolders;
import dev.fovea.server.TestImages;
import dev.fovea.server.TestServer;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.server.repository.ServedModel;
import dev.fovea.v1.GetModelRequest;
import dev.fovea.v1.InferenceServiceGrpc;
import dev.fovea.v1.ListModelsRequest;
import dev.fovea.v1.LoadModelRequest;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.UnloadModelRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Model control against a real server, per mode: explicit loads and unloads over fovea.v1 and the Open Inference
 * Protocol, versions and their policy, config overrides, what a hostile caller can send, and mode none refusing.
 */
@Timeout(170)
class ModelControlTest {

    @TempDir
    Path repository;

    private TestServer server;

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private TestServer explicit(String... load) throws Exception {
        server = TestServer.start(repository, ModelRepository.ControlMode.EXPLICIT, List.of(load));
        return server;
    }

    private InferenceServiceGrpc.InferenceServiceBlockingStub fovea() {
        return server.blocking();
    }

    private GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip() {
        return GRPCInferenceServiceGrpc.newBlockingStub(server.channel());
    }

    private PredictResponse predict(String model, String version) {
        return fovea().predict(PredictRequest.newBuilder().setModel(model).setModelVersion(version)
                .addImages(TestImages.pixels(TestImages.picture(40, 40, 1))).build());
    }

    private static Status.Code code(Executable call) {
        return assertThrows(StatusRuntimeException.class, call).getStatus().getCode();
    }

    private static String message(Executable call) {
        return assertThrows(StatusRuntimeException.class, call).getStatus().getDescription();
    }

    @Test
    void explicitModeLoadsOnRequestAndUnloadFreesTheModel() throws Exception {
        ModelFolders.plain(repository, "cnn");
        explicit();
        ModelInfo before = fovea().getModel(GetModelRequest.newBuilder().setName("cnn").build());
        assertEquals(ModelStatus.MODEL_STATUS_UNAVAILABLE, before.getStatus());
        assertEquals("not loaded", before.getStatusMessage());
        assertEquals(Status.Code.UNAVAILABLE, code(() -> predict("cnn", "")));

        ModelInfo loaded = fovea().loadModel(LoadModelRequest.newBuilder().setName("cnn").build());
        assertEquals(ModelStatus.MODEL_STATUS_READY, loaded.getStatus());
        assertEquals("1", loaded.getVersion(), "a plain model.pt is version 1");
        assertEquals("1", predict("cnn", "").getModelVersion());

        ModelInfo unloaded = fovea().unloadModel(UnloadModelRequest.newBuilder().setName("cnn").build());
        assertEquals(ModelStatus.MODEL_STATUS_UNAVAILABLE, unloaded.getStatus());
        assertEquals("unloaded", unloaded.getStatusMessage());
        assertTrue(message(() -> predict("cnn", "")).contains("unloaded"));
        assertEquals(0, server.server().repository().servedModels().size());
        assertEquals(ModelStatus.MODEL_STATUS_UNAVAILABLE, fovea().listModels(ListModelsRequest.getDefaultInstance())
                .getModels(0).getStatus());
    }

    @Test
    void namesThatAreNotAFolderDirectlyUnderTheRepositoryAreRefused() throws Exception {
        ModelFolders.plain(repository, "cnn");
        Files.writeString(repository.resolve("file.txt"), "not a folder");
        explicit();
        for (String name : List.of("", ".", "..", "../cnn", "cnn/..", "a/b", "/etc", "/tmp", "cnn\\x", "c\nn",
                "x".repeat(300))) {
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> fovea().loadModel(LoadModelRequest.newBuilder()
                    .setName(name).build())), name);
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> oip().repositoryModelUnload(
                    RepositoryModelUnloadRequest.newBuilder().setModelName(name).build())), name);
        }
        String huge = "y".repeat(100_000);
        String refusal = message(() -> fovea().loadModel(LoadModelRequest.newBuilder().setName(huge).build()));
        assertTrue(refusal.length() < 400, "the name is quoted and cut: " + refusal.length());
        assertEquals(Status.Code.NOT_FOUND, code(() -> fovea().loadModel(LoadModelRequest.newBuilder()
                .setName("missing").build())));
        assertEquals(Status.Code.NOT_FOUND, code(() -> fovea().loadModel(LoadModelRequest.newBuilder()
                .setName("file.txt").build())));
        assertEquals(ModelStatus.MODEL_STATUS_READY, fovea().loadModel(LoadModelRequest.newBuilder().setName("cnn")
                .build()).getStatus(), "the server goes on");
    }

    @Test
    void aBrokenModelFailsToLoadAndIsReportedAndCounted() throws Exception {
        Path folder = ModelFolders.versioned(repository, "cnn");
        ModelFolders.addBrokenVersion(folder, 1);
        explicit();
        String reason = message(() -> fovea().loadModel(LoadModelRequest.newBuilder().setName("cnn").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> fovea().loadModel(LoadModelRequest.newBuilder()
                .setName("cnn").build())));
        assertTrue(reason.contains("version 1 failed to load"), reason);
        ModelInfo info = fovea().getModel(GetModelRequest.newBuilder().setName("cnn").build());
        assertEquals(ModelStatus.MODEL_STATUS_FAILED, info.getStatus());
        assertEquals(2, loadFailures("cnn"), "each load request tries again");
        RepositoryIndexResponse index = oip().repositoryIndex(RepositoryIndexRequest.getDefaultInstance());
        assertEquals("UNAVAILABLE", index.getModels(0).getState());
        assertEquals("1", index.getModels(0).getVersion());
        assertTrue(index.getModels(0).getReason().contains("zip archive"), index.getModels(0).getReason());
    }

    @Test
    void aFailedNewVersionLeavesTheServingOneServing() throws Exception {
        Path folder = ModelFolders.versioned(repository, "cnn", 1);
        explicit("cnn");
        ModelFolders.addBrokenVersion(folder, 2);
        String reason = message(() -> fovea().loadModel(LoadModelRequest.newBuilder().setName("cnn").build()));
        assertTrue(reason.contains("version 2 failed to load") && reason.contains("serving version 1"), reason);
        ModelInfo info = fovea().getModel(GetModelRequest.newBuilder().setName("cnn").build());
        assertEquals(List.of("1"), info.getVersionsList(), "version 2 failed; version 1 serves on");
        assertTrue(info.getStatusMessage().contains("version 2 failed to load"), info.getStatusMessage());
        assertEquals("1", predict("cnn", "").getModelVersion());
        assertEquals(1, loadFailures("cnn"));
    }

    @Test
    void versionsFollowThePolicyAndRequestsMayNameOne() throws Exception {
        Path folder = ModelFolders.versioned(repository, "cnn", 1);
        explicit("cnn");
        ModelFolders.addVersion(folder, 2);
        ModelInfo newest = fovea().loadModel(LoadModelRequest.newBuilder().setName("cnn").build());
        assertEquals(List.of("2"), newest.getVersionsList(), "the default policy serves the newest version");
        assertEquals("2", predict("cnn", "").getModelVersion());
        assertEquals(Status.Code.NOT_FOUND, code(() -> predict("cnn", "1")));
        assertEquals(1, server.server().repository().servedModels().size());

        ModelInfo all = fovea().loadModel(LoadModelRequest.newBuilder().setName("cnn")
                .setConfig("{\"maxBatchSize\": 8, \"versionPolicy\": {\"all\": {}}}").build());
        assertEquals(List.of("2", "1"), all.getVersionsList());
        assertEquals("1", predict("cnn", "1").getModelVersion());
        assertEquals("2", predict("cnn", "2").getModelVersion());
        assertEquals("2", predict("cnn", "").getModelVersion());
        assertTrue(oip().modelReady(ModelReadyRequest.newBuilder().setName("cnn").setVersion("1").build())
                .getReady());
        assertFalse(oip().modelReady(ModelReadyRequest.newBuilder().setName("cnn").setVersion("3").build())
                .getReady());
        assertEquals(2, oip().repositoryIndex(RepositoryIndexRequest.getDefaultInstance()).getModelsCount());
    }

    @Test
    void aConfigOverrideIsBoundedParsedAndApplied() throws Exception {
        ModelFolders.plain(repository, "cnn");
        explicit("cnn");
        LoadModelRequest.Builder load = LoadModelRequest.newBuilder().setName("cnn");
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> fovea().loadModel(load.setConfig("{not json").build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> fovea().loadModel(load.setConfig("{\"noSuchField\": 1}")
                .build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> fovea().loadModel(load.setConfig(
                "{\"labelsFile\": \"" + "x".repeat(70_000) + "\"}").build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> fovea().loadModel(load.setConfig(
                "[".repeat(5000)).build())));
        StatusRuntimeException outside = assertThrows(StatusRuntimeException.class, () -> fovea().loadModel(
                load.setConfig("{\"labelsFile\": \"/etc/passwd\"}").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, outside.getStatus().getCode());
        assertTrue(outside.getStatus().getDescription().contains("must be a file name in the model's folder"),
                outside.getStatus().getDescription());
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> fovea().loadModel(load.setConfig(
                "{\"instances\": 100000}").build())));
        assertEquals("1", predict("cnn", "").getModelVersion(), "refused overrides change nothing");

        ModelInfo overridden = fovea().loadModel(load.setConfig("{\"maxBatchSize\": 2, \"preprocessing\": "
                + "{\"cropWidth\": 32, \"cropHeight\": 32, \"resizeShorterSide\": 36}}").build());
        assertEquals(2, overridden.getConfig().getMaxBatchSize());
        ModelInfo fromFile = fovea().loadModel(LoadModelRequest.newBuilder().setName("cnn").build());
        assertEquals(8, fromFile.getConfig().getMaxBatchSize(), "a load without config reads config.pbtxt again");
    }

    @Test
    void theOpenInferenceProtocolLoadsUnloadsAndIndexesWithTritonsStates() throws Exception {
        ModelFolders.plain(repository, "cnn");
        ModelFolders.plain(repository, "other");
        explicit("other");
        RepositoryIndexResponse index = oip().repositoryIndex(RepositoryIndexRequest.getDefaultInstance());
        assertEquals("UNAVAILABLE", index.getModels(0).getState());
        assertEquals("not loaded", index.getModels(0).getReason());
        assertEquals("READY", index.getModels(1).getState());
        assertEquals(1, oip().repositoryIndex(RepositoryIndexRequest.newBuilder().setReady(true).build())
                .getModelsCount());

        oip().repositoryModelLoad(RepositoryModelLoadRequest.newBuilder().setModelName("cnn")
                .putParameters("config", ModelRepositoryParameter.newBuilder().setStringParam("{\"maxBatchSize\": 4}")
                        .build()).build());
        assertEquals(4, fovea().getModel(GetModelRequest.newBuilder().setName("cnn").build()).getConfig()
                .getMaxBatchSize());
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> oip().repositoryModelLoad(RepositoryModelLoadRequest
                .newBuilder().setModelName("cnn").putParameters("file:1/model.pt", ModelRepositoryParameter
                        .newBuilder().setBytesParam(com.google.protobuf.ByteString.copyFromUtf8("x")).build())
                .build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> oip().repositoryModelLoad(RepositoryModelLoadRequest
                .newBuilder().setModelName("cnn").putParameters("config", ModelRepositoryParameter.newBuilder()
                        .setBoolParam(true).build()).build())));
        assertEquals(Status.Code.NOT_FOUND, code(() -> oip().repositoryModelLoad(RepositoryModelLoadRequest
                .newBuilder().setRepositoryName("elsewhere").setModelName("cnn").build())));

        oip().repositoryModelUnload(RepositoryModelUnloadRequest.newBuilder().setModelName("cnn")
                .putParameters("unload_dependents", ModelRepositoryParameter.newBuilder().setBoolParam(true).build())
                .build());
        RepositoryIndexResponse after = oip().repositoryIndex(RepositoryIndexRequest.getDefaultInstance());
        assertEquals("UNAVAILABLE", after.getModels(0).getState());
        assertEquals("unloaded", after.getModels(0).getReason());
        assertFalse(oip().modelReady(ModelReadyRequest.newBuilder().setName("cnn").build()).getReady());
    }

    @Test
    void pollModeLoadsNewVersionsAndModelsAndUnloadsRemovedOnes() throws Exception {
        Path folder = ModelFolders.versioned(repository, "cnn", 1);
        server = TestServer.start(repository, ModelRepository.ControlMode.POLL, List.of());
        ModelRepository models = server.server().repository();
        assertEquals(Status.Code.UNAVAILABLE, code(() -> fovea().loadModel(LoadModelRequest.newBuilder()
                .setName("cnn").build())), "poll mode takes no load requests, as Triton's");

        ModelFolders.addVersion(folder, 2);
        ModelFolders.plain(repository, "second");
        models.rescan().join();
        assertEquals("2", predict("cnn", "").getModelVersion());
        assertEquals("1", predict("second", "").getModelVersion());
        List<ServedModel> loaded = models.servedModels();
        models.rescan().join();
        assertEquals(loaded.size(), models.servedModels().size());
        for (int i = 0; i < loaded.size(); i++) {
            assertSame(loaded.get(i), models.servedModels().get(i), "a rescan keeps unchanged versions as they are");
        }

        ModelFolders.addBrokenVersion(folder, 3);
        models.rescan().join();
        models.rescan().join();
        assertEquals("2", predict("cnn", "").getModelVersion(), "the broken version 3 leaves version 2 serving");
        assertEquals(1, loadFailures("cnn"), "a rescan retries a broken version only once its files change");

        Files.writeString(folder.resolve("3/model.pt"), "still broken, but changed");
        models.rescan().join();
        assertEquals(2, loadFailures("cnn"));

        try (var files = Files.walk(repository.resolve("second"))) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
        models.rescan().join();
        assertEquals(Status.Code.NOT_FOUND, code(() -> predict("second", "")));
        assertEquals(1, models.servedModels().size());
    }

    @Test
    void modeNoneRefusesModelControl() throws Exception {
        server = TestServer.start();
        assertEquals(Status.Code.UNAVAILABLE, code(() -> fovea().loadModel(LoadModelRequest.newBuilder()
                .setName("cnn").build())));
        String reason = message(() -> fovea().unloadModel(UnloadModelRequest.newBuilder().setName("cnn").build()));
        assertTrue(reason.contains("--model-control-mode none"), reason);
        assertEquals(Status.Code.UNAVAILABLE, code(() -> oip().repositoryModelUnload(RepositoryModelUnloadRequest
                .newBuilder().setModelName("cnn").build())));
        assertEquals("1", predict("cnn", "").getModelVersion(), "nothing was unloaded");
    }

    private long loadFailures(String model) {
        for (var metric : server.metrics().registry().scrape()) {
            if (metric instanceof CounterSnapshot counter
                    && counter.getMetadata().getName().equals("fovea_model_load_failures")) {
                return counter.getDataPoints().stream().filter(point -> point.getLabels().get("model").equals(model))
                        .mapToLong(point -> (long) point.getValue()).sum();
            }
        }
        return 0;
    }
}

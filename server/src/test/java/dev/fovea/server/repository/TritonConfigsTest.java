package dev.fovea.server.repository;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.v1.Task;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How a Triton-layout model folder is read: what is applied, what is reported, what is refused. */
class TritonConfigsTest {

    @TempDir
    Path repository;

    private static final String MINIMAL = """
            platform: "pytorch_libtorch"
            max_batch_size: 8
            input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3, -1, -1 ] } ]
            output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 1000 ] } ]
            """;

    private Path model(String name, String config, String... versions) throws Exception {
        Path folder = Files.createDirectories(repository.resolve(name));
        Files.writeString(folder.resolve("config.pbtxt"), config);
        for (String version : versions) {
            Files.writeString(Files.createDirectories(folder.resolve(version)).resolve("model.pt"), "weights");
        }
        return folder;
    }

    @Test
    void theNewestVersionServesWithTheConfiguredBatchingInstancesAndThreads() throws Exception {
        Path folder = model("resnet", MINIMAL + """
                dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 500 }
                instance_group [ { count: 2 kind: KIND_CPU } ]
                parameters { key: "INTRA_OP_THREAD_COUNT" value: { string_value: "1" } }
                parameters { key: "INFERENCE_MODE" value: { string_value: "true" } }
                """, "1", "3", "20");
        assertTrue(TritonConfigs.isTritonLayout(folder));
        TritonConfigs.Read read = TritonConfigs.read(folder, null);
        ModelFolder model = ModelFolder.read("resnet", folder, null);
        assertEquals(List.of("20"), model.serving().stream().map(Versions.Version::name).toList(),
                "versions compare as numbers");
        assertEquals(folder.resolve("20/model.pt"), model.serving().getFirst().modelFile());
        assertEquals("resnet", read.triton().getName(), "the name defaults to the folder's");
        assertEquals(Task.TASK_RAW, read.fovea().getTask());
        assertEquals(8, read.fovea().getMaxBatchSize());
        assertEquals(500, read.fovea().getDynamicBatching().getMaxQueueDelayUs());
        assertEquals(List.of(4, 8), read.fovea().getDynamicBatching().getPreferredBatchSizesList());
        assertEquals(2, read.fovea().getInstances());
        assertEquals(1, read.fovea().getThreads());
        assertEquals("cpu", read.fovea().getDevice());
        assertEquals(List.of(), read.ignored());
    }

    @Test
    void fieldsFoveaDoesNotApplyAreListedByPath() throws Exception {
        Path folder = model("m", MINIMAL.replace("dims: [ 1000 ] }", "dims: [ 1000 ] reshape { shape: [ 10, 100 ] } }")
                + """
                optimization { input_pinned_memory { enable: true } }
                dynamic_batching { preserve_ordering: true }
                parameters { key: "ENABLE_NVFUSER" value: { string_value: "true" } }
                model_warmup [ { name: "w" batch_size: 1 } ]
                """, "1");
        assertEquals(List.of("optimization", "model_warmup", "output[0].reshape", "dynamic_batching.preserve_ordering",
                "parameters.ENABLE_NVFUSER"), TritonConfigs.read(folder, null).ignored());
    }

    @Test
    void whatFoveaCannotServeIsRefusedWithTheReason() throws Exception {
        assertRefused(model("onnx", MINIMAL.replace("pytorch_libtorch", "onnxruntime_onnx"), "1"), "onnxruntime_onnx");
        assertRefused(model("unbatched", MINIMAL.replace("max_batch_size: 8", "max_batch_size: 0"), "1"),
                "max_batch_size");
        assertRefused(model("renamed", "name: \"other\"\n" + MINIMAL, "1"), "differs from the folder");
        assertRefused(model("typo", MINIMAL + "max_batch: 3\n", "1"), "config.pbtxt:5");
        assertRefused(model("nofile", MINIMAL + "default_model_filename: \"traced.pt\"\n", "1"), "traced.pt");
        assertRefused(model("twoinputs", MINIMAL.replace("input [ {", "input [ { name: \"B\" data_type: TYPE_FP32 "
                + "dims: [ 1 ] }, {"), "1"), "exactly one input");
    }

    @Test
    void versionPolicyChoosesTheServingVersionsNewestFirst() throws Exception {
        assertEquals(List.of("20", "3"), serving(model("latest2", MINIMAL
                + "version_policy { latest { num_versions: 2 } }\n", "1", "3", "20")));
        assertEquals(List.of("20", "3", "1"), serving(model("all", MINIMAL + "version_policy { all { } }\n",
                "1", "3", "20")));
        assertEquals(List.of("3", "1"), serving(model("specific", MINIMAL
                + "version_policy { specific { versions: [ 1, 3, 7 ] } }\n", "1", "3", "20")));
        assertRefused(model("none", MINIMAL + "version_policy { specific { versions: [ 7 ] } }\n", "1"),
                "serves none of the versions on disk (1)");
    }

    @Test
    void foveaLayoutHasNumberedVersionsToo() throws Exception {
        Path folder = Files.createDirectories(repository.resolve("cnn"));
        Files.writeString(folder.resolve("config.pbtxt"), "version_policy { latest { num_versions: 2 } }\n");
        Files.writeString(folder.resolve("labels.txt"), "cat\ndog\n");
        for (String version : List.of("1", "2", "5")) {
            Files.writeString(Files.createDirectories(folder.resolve(version)).resolve("model.pt"), "weights");
        }
        assertFalse(TritonConfigs.isTritonLayout(folder));
        ModelFolder model = ModelFolder.read("cnn", folder, null);
        assertEquals(List.of("5", "2"), model.serving().stream().map(Versions.Version::name).toList());
        assertEquals(List.of("cat", "dog"), model.labels());

        Path plain = Files.createDirectories(repository.resolve("plain"));
        Files.writeString(plain.resolve("model.pt"), "weights");
        assertEquals(List.of("1"), ModelFolder.read("plain", plain, null).serving().stream()
                .map(Versions.Version::name).toList(), "a plain model.pt is version 1");
    }

    private static List<String> serving(Path folder) throws Exception {
        return ModelFolder.read(folder.getFileName().toString(), folder, null).serving().stream()
                .map(Versions.Version::name).toList();
    }

    @Test
    void aFoveaFolderIsNotTritonLayout() throws Exception {
        Path folder = Files.createDirectories(repository.resolve("fovea"));
        Files.writeString(folder.resolve("model.pt"), "weights");
        Files.writeString(folder.resolve("config.pbtxt"), "task: TASK_RAW\n");
        assertFalse(TritonConfigs.isTritonLayout(folder));
    }

    private static void assertRefused(Path folder, String reason) {
        InvalidModelException e = assertThrows(InvalidModelException.class,
                () -> ModelFolder.read(folder.getFileName().toString(), folder, null));
        assertTrue(e.getMessage().contains(reason), e.getMessage());
    }
}

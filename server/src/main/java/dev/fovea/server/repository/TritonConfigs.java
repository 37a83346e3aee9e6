package dev.fovea.server.repository;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import dev.fovea.oip.DataType;
import dev.fovea.oip.ModelInput;
import dev.fovea.oip.ModelInstanceGroup;
import dev.fovea.oip.ModelOutput;
import dev.fovea.server.model.ElementType;
import dev.fovea.server.model.ModelSpec;
import dev.fovea.v1.DynamicBatching;
import dev.fovea.v1.ModelConfig;
import dev.fovea.v1.Task;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads a model laid out the Triton way, as Triton's PyTorch backend serves it: {@code <model>/config.pbtxt} with
 * Triton's ModelConfig ({@code platform: "pytorch_libtorch"} or {@code backend: "pytorch"}) and
 * {@code <model>/<version>/model.pt}. Such a model takes tensors as they are (no preprocessing) and returns its raw
 * outputs. The fields Fovea applies: name, platform/backend, max_batch_size (> 0: the first dimension is the batch),
 * one input (with its reshape), outputs (with label_filename), dynamic_batching (preferred sizes, queue delay),
 * instance_group (count, kind, gpus), default_model_filename, the parameters INTRA_OP_THREAD_COUNT and INFERENCE_MODE, and
 * version_policy ({@link Versions}); every other field that is set is listed in {@link Read#ignored()}, which the repository logs and
 * reports, never silently drops.
 */
final class TritonConfigs {

    static final String PLATFORM = "pytorch_libtorch";
    private static final Set<String> APPLIED = Set.of("name", "platform", "backend", "version_policy",
            "max_batch_size", "input", "output", "dynamic_batching", "instance_group", "default_model_filename",
            "parameters");
    private static final Set<String> INPUT_FIELDS = Set.of("name", "data_type", "format", "dims", "reshape");
    private static final Set<String> OUTPUT_FIELDS = Set.of("name", "data_type", "dims", "label_filename");
    private static final Set<String> BATCHING_FIELDS = Set.of("preferred_batch_size", "max_queue_delay_microseconds");
    private static final Set<String> GROUP_FIELDS = Set.of("name", "kind", "count", "gpus");
    private static final Set<String> PARAMETERS = Set.of("INTRA_OP_THREAD_COUNT", "INFERENCE_MODE");
    private static final Pattern TRITON_FIELD = Pattern.compile("(?m)^\\s*(platform|backend)\\s*:");

    /**
     * A Triton model folder, read: its config as written, the equivalent Fovea config the runner uses, the name of the
     * TorchScript file in each version folder, and the fields Fovea does not apply.
     */
    record Read(dev.fovea.oip.ModelConfig triton, ModelConfig fovea, String modelFileName, List<String> ignored) {}

    private TritonConfigs() {}

    /**
     * True for a folder whose config.pbtxt names a platform or backend, Triton's layout (Fovea's own config has
     * neither field).
     */
    static boolean isTritonLayout(Path folder) throws IOException {
        Path file = folder.resolve(ModelConfigs.FILE_NAME);
        return Files.isRegularFile(file) && TRITON_FIELD.matcher(Files.readString(file)).find();
    }

    /** Reads the folder's config.pbtxt, or {@code override} instead when it is not null (a load request's config). */
    static Read read(Path folder, dev.fovea.oip.ModelConfig override) throws IOException {
        Path file = folder.resolve(ModelConfigs.FILE_NAME);
        dev.fovea.oip.ModelConfig.Builder builder = dev.fovea.oip.ModelConfig.newBuilder();
        if (override != null) {
            builder.mergeFrom(override);
        } else {
            try {
                TextFormat.merge(Files.readString(file), builder);
            } catch (TextFormat.ParseException e) {
                throw new InvalidModelException(file + ":" + e.getLine() + ":" + e.getColumn() + ": "
                        + e.getMessage());
            }
        }
        String name = folder.getFileName().toString();
        if (builder.getName().isEmpty()) {
            builder.setName(name);
        } else if (!builder.getName().equals(name)) {
            throw new InvalidModelException(file + ": name '" + builder.getName() + "' differs from the folder '"
                    + name + "'");
        }
        dev.fovea.oip.ModelConfig triton = builder.build();
        if (!triton.getPlatform().equals(PLATFORM) && !triton.getBackend().equals("pytorch")) {
            throw new InvalidModelException(file + ": platform '" + triton.getPlatform() + "' / backend '"
                    + triton.getBackend() + "' is not served; Fovea runs " + PLATFORM + " (TorchScript) models");
        }
        if (triton.getMaxBatchSize() < 1) {
            throw new InvalidModelException(file + ": max_batch_size must be >= 1: Fovea batches along the first "
                    + "dimension, and max_batch_size 0 (no batch dimension) is not supported");
        }
        if (triton.getInputCount() != 1) {
            throw new InvalidModelException(file + ": " + triton.getInputCount() + " inputs; Fovea runs models with "
                    + "exactly one input tensor");
        }
        checkReshape(triton.getInput(0), file);
        if (triton.getOutputCount() == 0) {
            throw new InvalidModelException(file + ": no output is declared");
        }
        String fileName = triton.getDefaultModelFilename().isEmpty() ? ModelRepository.MODEL_FILE
                : triton.getDefaultModelFilename();
        if (fileName.contains("/") || fileName.equals("..")) {
            throw new InvalidModelException(file + ": default_model_filename '" + fileName + "' must be a file name");
        }
        return new Read(triton, foveaConfig(triton, file), fileName, ignoredFields(triton));
    }

    /** The Fovea settings equivalent to a Triton config: raw task, batching, instances, device, threads. */
    private static ModelConfig foveaConfig(dev.fovea.oip.ModelConfig triton, Path file) {
        ModelConfig.Builder fovea = ModelConfig.newBuilder().setTask(Task.TASK_RAW)
                .setMaxBatchSize(triton.getMaxBatchSize()).setDevice("cpu").setInstances(1);
        if (triton.hasDynamicBatching()) {
            var dynamic = triton.getDynamicBatching();
            DynamicBatching.Builder batching = DynamicBatching.newBuilder()
                    .setMaxQueueDelayUs(dynamic.getMaxQueueDelayMicroseconds());
            for (int size : dynamic.getPreferredBatchSizeList()) {
                if (size < 1 || size > triton.getMaxBatchSize()) {
                    throw new InvalidModelException(file + ": dynamic_batching.preferred_batch_size " + size
                            + " is outside 1..max_batch_size " + triton.getMaxBatchSize());
                }
                batching.addPreferredBatchSizes(size);
            }
            fovea.setDynamicBatching(batching);
        }
        int instances = 0;
        for (ModelInstanceGroup group : triton.getInstanceGroupList()) {
            instances += Math.max(1, group.getCount());
            if (group.getKind() == ModelInstanceGroup.Kind.KIND_GPU) {
                fovea.setDevice("cuda:" + (group.getGpusCount() == 0 ? 0 : group.getGpus(0)));
            } else if (group.getKind() == ModelInstanceGroup.Kind.KIND_MODEL) {
                throw new InvalidModelException(file + ": instance_group kind KIND_MODEL is not supported");
            }
        }
        fovea.setInstances(Math.max(1, instances));
        Optional.ofNullable(triton.getParametersMap().get("INTRA_OP_THREAD_COUNT")).ifPresent(threads -> {
            try {
                fovea.setThreads(Integer.parseInt(threads.getStringValue().strip()));
            } catch (NumberFormatException e) {
                throw new InvalidModelException(file + ": parameters INTRA_OP_THREAD_COUNT '"
                        + threads.getStringValue() + "' is not a number");
            }
        });
        return ModelConfigs.withDefaults(fovea, file);
    }

    /** Every set field Fovea does not apply, as a path such as {@code optimization} or {@code output[0].reshape}. */
    static List<String> ignoredFields(dev.fovea.oip.ModelConfig triton) {
        List<String> ignored = new ArrayList<>();
        unknown(triton, APPLIED, "", ignored);
        for (int i = 0; i < triton.getInputCount(); i++) {
            unknown(triton.getInput(i), INPUT_FIELDS, "input[" + i + "].", ignored);
        }
        for (int i = 0; i < triton.getOutputCount(); i++) {
            unknown(triton.getOutput(i), OUTPUT_FIELDS, "output[" + i + "].", ignored);
        }
        unknown(triton.getDynamicBatching(), BATCHING_FIELDS, "dynamic_batching.", ignored);
        for (int i = 0; i < triton.getInstanceGroupCount(); i++) {
            unknown(triton.getInstanceGroup(i), GROUP_FIELDS, "instance_group[" + i + "].", ignored);
        }
        for (Map.Entry<String, dev.fovea.oip.ModelParameter> parameter : triton.getParametersMap().entrySet()) {
            if (!PARAMETERS.contains(parameter.getKey())) {
                ignored.add("parameters." + parameter.getKey());
            }
        }
        return ignored;
    }

    private static void unknown(Message message, Set<String> applied, String prefix, List<String> ignored) {
        for (FieldDescriptor field : message.getAllFields().keySet()) {
            if (!applied.contains(field.getName())) {
                ignored.add(prefix + field.getName());
            }
        }
    }

    /** The labels of output 0, from its label_filename, if it names one. */
    static Optional<Path> labelsFile(dev.fovea.oip.ModelConfig triton, Path folder) {
        ModelOutput first = triton.getOutput(0);
        return first.getLabelFilename().isEmpty() ? Optional.empty()
                : Optional.of(folder.resolve(first.getLabelFilename()));
    }

    /** The element type of a config data type; types Fovea's native layer does not carry make the model invalid. */
    static ElementType elementType(DataType type) {
        return ElementType.ofConfig(type).filter(element -> !element.isBytes())
                .orElseThrow(() -> new InvalidModelException("data_type " + type + " is not supported (supported: "
                        + ElementType.configNames().replace(", " + ElementType.BYTES.config().name(), "") + ")"));
    }

    /**
     * The warm-up's outputs, named as the config's outputs (by position, as Triton's PyTorch backend maps
     * OUTPUT__0, OUTPUT__1, ...), after checking the model returns at least those, of the declared types.
     */
    static List<ModelSpec.Tensor> checkOutputs(dev.fovea.oip.ModelConfig triton, List<ModelSpec.Tensor> outputs,
            Path folder) {
        Path file = folder.resolve(ModelConfigs.FILE_NAME);
        if (outputs.size() < triton.getOutputCount()) {
            throw new InvalidModelException(file + ": " + triton.getOutputCount() + " outputs declared, the model "
                    + "returns " + outputs.size());
        }
        List<ModelSpec.Tensor> named = new ArrayList<>();
        for (int i = 0; i < triton.getOutputCount(); i++) {
            ModelOutput declared = triton.getOutput(i);
            ModelSpec.Tensor actual = outputs.get(i);
            if (actual.type() != elementType(declared.getDataType())) {
                throw new InvalidModelException(file + ": output[" + i + "] '" + declared.getName() + "' is "
                        + declared.getDataType() + " but the model returns " + actual.type().config());
            }
            named.add(new ModelSpec.Tensor(declared.getName(), actual.type(), actual.dims()));
        }
        return named;
    }

    /**
     * A reshape must keep the elements of a row: as many variable (-1) dims as the declared dims, and fixed dims with
     * the same product, so that every request that passes the dims check reshapes.
     */
    private static void checkReshape(ModelInput input, Path file) {
        if (!input.hasReshape()) {
            return;
        }
        List<Long> dims = input.getDimsList();
        List<Long> reshape = input.getReshape().getShapeList();
        long variableDims = dims.stream().filter(d -> d < 0).count();
        long variableReshape = reshape.stream().filter(d -> d < 0).count();
        long fixedDims = dims.stream().filter(d -> d >= 0).reduce(1L, Math::multiplyExact);
        long fixedReshape = reshape.stream().filter(d -> d >= 0).reduce(1L, Math::multiplyExact);
        if (variableDims != variableReshape || fixedDims != fixedReshape) {
            throw new InvalidModelException(file + ": input '" + input.getName() + "' reshape " + reshape
                    + " does not hold the elements of dims " + dims);
        }
    }

    /** The model's input as the server checks requests against it. */
    static ModelSpec.Tensor input(ModelInput input) {
        return new ModelSpec.Tensor(input.getName(), elementType(input.getDataType()), input.getDimsList(),
                input.hasReshape() ? input.getReshape().getShapeList() : List.of());
    }
}

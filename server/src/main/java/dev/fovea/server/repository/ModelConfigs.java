package dev.fovea.server.repository;

import com.google.protobuf.TextFormat;
import dev.fovea.oip.ModelDynamicBatching;
import dev.fovea.oip.ModelInput;
import dev.fovea.oip.ModelInstanceGroup;
import dev.fovea.oip.ModelOutput;
import dev.fovea.server.inference.Batching;
import dev.fovea.server.model.ModelSpec;
import dev.fovea.torch.Device;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.v1.ChannelOrder;
import dev.fovea.v1.DynamicBatching;
import dev.fovea.v1.ModelConfig;
import dev.fovea.v1.Task;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Reads a model's {@code config.pbtxt} (protobuf text format of {@link ModelConfig}) and fills in defaults. */
final class ModelConfigs {

    static final String FILE_NAME = "config.pbtxt";
    static final int DEFAULT_MAX_BATCH_SIZE = 64;
    static final int DEFAULT_CROP = 224;
    /** Bounds that keep a config (a load request's is a client's) from making the server allocate without limit. */
    static final int MAX_CROP = 8192;
    static final int MAX_INSTANCES = 64;

    private ModelConfigs() {}

    /**
     * The model's configuration with every default filled in; a folder without config.pbtxt gets all defaults.
     *
     * @throws InvalidModelException naming the file, line and field when the text does not parse or a value is wrong
     */
    static ModelConfig read(Path modelDirectory) throws IOException {
        Path file = modelDirectory.resolve(FILE_NAME);
        ModelConfig.Builder config = ModelConfig.newBuilder();
        if (Files.exists(file)) {
            try {
                TextFormat.merge(Files.readString(file), config);
            } catch (TextFormat.ParseException e) {
                throw new InvalidModelException(file + ":" + e.getLine() + ":" + e.getColumn() + ": " + e.getMessage());
            }
        }
        return withDefaults(config, file);
    }

    static ModelConfig withDefaults(ModelConfig.Builder config, Path file) {
        if (config.getTask() == Task.TASK_UNSPECIFIED) {
            config.setTask(Task.TASK_CLASSIFICATION);
        }
        if (config.getDevice().isEmpty()) {
            config.setDevice("cpu");
        }
        if (config.getMaxBatchSize() == 0) {
            config.setMaxBatchSize(DEFAULT_MAX_BATCH_SIZE);
        }
        if (config.getInstances() == 0) {
            config.setInstances(1);
        }
        var preprocessing = config.getPreprocessingBuilder();
        if (preprocessing.getCropWidth() == 0 && preprocessing.getCropHeight() == 0) {
            preprocessing.setCropWidth(DEFAULT_CROP).setCropHeight(DEFAULT_CROP);
        }
        if (preprocessing.getChannelOrder() == ChannelOrder.CHANNEL_ORDER_UNSPECIFIED) {
            preprocessing.setChannelOrder(ChannelOrder.CHANNEL_ORDER_RGB);
        }
        int channels = preprocessing.getChannelOrder() == ChannelOrder.CHANNEL_ORDER_GRAY ? 1 : 3;
        if (preprocessing.getMeanCount() == 0) {
            for (int c = 0; c < channels; c++) {
                preprocessing.addMean(0f);
            }
        }
        if (preprocessing.getStdCount() == 0) {
            for (int c = 0; c < channels; c++) {
                preprocessing.addStd(1f);
            }
        }
        ModelConfig complete = config.build();
        validate(complete, file, channels);
        return complete;
    }

    private static void validate(ModelConfig config, Path file, int channels) {
        try {
            Device.parse(config.getDevice());
        } catch (IllegalArgumentException e) {
            throw new InvalidModelException(file + ": device: " + e.getMessage());
        }
        var preprocessing = config.getPreprocessing();
        if (preprocessing.getCropWidth() == 0 || preprocessing.getCropHeight() == 0) {
            throw new InvalidModelException(file + ": preprocessing: crop_width and crop_height must both be set");
        }
        if (preprocessing.getCropWidth() > MAX_CROP || preprocessing.getCropHeight() > MAX_CROP
                || preprocessing.getResizeShorterSide() > MAX_CROP) {
            throw new InvalidModelException(file + ": preprocessing: sizes must be at most " + MAX_CROP);
        }
        if (config.getInstances() > MAX_INSTANCES) {
            throw new InvalidModelException(file + ": instances must be at most " + MAX_INSTANCES + " (each is a "
                    + "thread), got " + config.getInstances());
        }
        if (preprocessing.getMeanCount() != channels || preprocessing.getStdCount() != channels) {
            throw new InvalidModelException(file + ": preprocessing: mean and std need " + channels
                    + " values for channel_order " + preprocessing.getChannelOrder());
        }
        for (int size : config.getDynamicBatching().getPreferredBatchSizesList()) {
            if (size < 1 || size > config.getMaxBatchSize()) {
                throw new InvalidModelException(file + ": dynamic_batching: preferred_batch_sizes must be between 1 "
                        + "and max_batch_size " + config.getMaxBatchSize() + ", got " + size);
            }
        }
        for (float std : preprocessing.getStdList()) {
            if (!(std > 0)) {
                throw new InvalidModelException(file + ": preprocessing: std values must be > 0");
            }
        }
    }

    /** The batching a complete config asks for: dynamic only when it has a dynamic_batching block. */
    static Batching batching(ModelConfig config) {
        if (!config.hasDynamicBatching()) {
            return Batching.OFF;
        }
        DynamicBatching dynamic = config.getDynamicBatching();
        return Batching.dynamic(TimeUnit.MICROSECONDS.toNanos(dynamic.getMaxQueueDelayUs()),
                dynamic.getPreferredBatchSizesList().stream().mapToInt(Integer::intValue).toArray());
    }

    /**
     * The model as Triton's ModelConfig describes it, for the Open Inference Protocol: one input {@code input}, UINT8
     * frames {@code [-1, -1, channels]} per batch row (the server preprocesses them), the outputs seen at warm-up,
     * batching and instances as configured.
     */
    static dev.fovea.oip.ModelConfig servingConfig(ModelConfig config, ModelSpec spec) {
        dev.fovea.oip.ModelConfig.Builder serving = dev.fovea.oip.ModelConfig.newBuilder().setName(spec.name())
                .setPlatform(TritonConfigs.PLATFORM).setMaxBatchSize(spec.maxBatchSize());
        for (ModelSpec.Tensor input : spec.inputs()) {
            serving.addInput(ModelInput.newBuilder().setName(input.name()).setDataType(input.type().config())
                    .setFormat(ModelInput.Format.FORMAT_NHWC).addAllDims(input.dims()));
        }
        for (ModelSpec.Tensor output : spec.outputs()) {
            serving.addOutput(ModelOutput.newBuilder().setName(output.name()).setDataType(output.type().config())
                    .addAllDims(output.dims()));
        }
        if (config.hasDynamicBatching()) {
            serving.setDynamicBatching(ModelDynamicBatching.newBuilder()
                    .setMaxQueueDelayMicroseconds(config.getDynamicBatching().getMaxQueueDelayUs())
                    .addAllPreferredBatchSize(config.getDynamicBatching().getPreferredBatchSizesList()));
        }
        Device device = Device.parse(config.getDevice());
        ModelInstanceGroup.Builder group = ModelInstanceGroup.newBuilder().setCount(config.getInstances())
                .setKind(device.type() == Device.Type.CUDA ? ModelInstanceGroup.Kind.KIND_GPU
                        : ModelInstanceGroup.Kind.KIND_CPU);
        if (device.type() == Device.Type.CUDA) {
            group.addGpus(device.index());
        }
        return serving.addInstanceGroup(group).build();
    }

    /** The native preprocessing spec for a complete config. */
    static Preprocessing preprocessing(ModelConfig config) {
        var p = config.getPreprocessing();
        float[] mean = new float[p.getMeanCount()];
        float[] std = new float[p.getStdCount()];
        for (int c = 0; c < mean.length; c++) {
            mean[c] = p.getMean(c);
            std[c] = p.getStd(c);
        }
        PixelFormat order = switch (p.getChannelOrder()) {
            case CHANNEL_ORDER_BGR -> PixelFormat.BGR;
            case CHANNEL_ORDER_GRAY -> PixelFormat.GRAY;
            default -> PixelFormat.RGB;
        };
        return new Preprocessing(p.getResizeShorterSide(), p.getCropWidth(), p.getCropHeight(), mean, std, order);
    }
}

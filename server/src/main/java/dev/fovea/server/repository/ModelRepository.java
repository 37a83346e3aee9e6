package dev.fovea.server.repository;

import dev.fovea.server.inference.CpuCompute;
import dev.fovea.server.inference.InferenceRequest;
import dev.fovea.server.inference.InputImage;
import dev.fovea.server.inference.ModelRunner;
import dev.fovea.server.inference.Prediction;
import dev.fovea.server.inference.Predictions;
import dev.fovea.server.metrics.ServerMetrics;
import dev.fovea.server.model.ElementType;
import dev.fovea.server.model.ModelSpec;
import dev.fovea.torch.DType;
import dev.fovea.torch.Device;
import dev.fovea.torch.ImageInput;
import dev.fovea.torch.NativeException;
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.TorchModule;
import dev.fovea.torch.TorchRuntime;
import dev.fovea.v1.ModelConfig;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import dev.fovea.v1.Precision;
import dev.fovea.v1.Task;
import dev.fovea.v1.TensorSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * The models of a repository folder: {@code <repository>/<model>/model.pt} plus optional {@code config.pbtxt} and
 * labels file, or a model in Triton's layout ({@link TritonConfigs}). Every model is loaded onto its device and warmed up when the repository opens; a model that fails is
 * logged with the reason, reported as FAILED, and skipped while the rest serve.
 *
 * <p>Ownership: the repository owns every model's runner and native module; {@link #close()} drains and frees them.
 */
public final class ModelRepository implements AutoCloseable {

    private static final Logger log = Logger.getLogger(ModelRepository.class.getName());
    static final String MODEL_FILE = "model.pt";
    static final String DEFAULT_LABELS_FILE = "labels.txt";
    private static final long WARM_UP_TIMEOUT_SECONDS = 300;

    /**
     * Server-wide defaults for what a model's config.pbtxt leaves unset, where runners report, and how many threads
     * run CPU models' native work (see {@link CpuCompute}).
     */
    public record Options(int queueCapacity, int computeThreads, ServerMetrics metrics) {
        public Options {
            if (queueCapacity < 1 || computeThreads < 1) {
                throw new IllegalArgumentException("queueCapacity and computeThreads must be >= 1");
            }
            Objects.requireNonNull(metrics, "metrics");
        }
    }

    private final Path root;
    private final CpuCompute compute;
    private final Map<String, ServedModel> ready;
    private final Map<String, ModelInfo> failed;

    private ModelRepository(Path root, CpuCompute compute, Map<String, ServedModel> ready,
            Map<String, ModelInfo> failed) {
        this.root = root;
        this.compute = compute;
        this.ready = Collections.unmodifiableMap(ready);
        this.failed = Collections.unmodifiableMap(failed);
    }

    /** Loads and warms up every model folder under {@code root}, in name order. */
    public static ModelRepository open(Path root, Options options) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new IOException("model repository " + root + " is not a directory");
        }
        List<Path> folders;
        try (Stream<Path> children = Files.list(root)) {
            folders = children.filter(Files::isDirectory).sorted().toList();
        }
        CpuCompute compute = new CpuCompute(options.computeThreads());
        Map<String, ServedModel> ready = new TreeMap<>();
        Map<String, ModelInfo> failed = new TreeMap<>();
        for (Path folder : folders) {
            String name = folder.getFileName().toString();
            long start = System.nanoTime();
            try {
                if (!Files.exists(folder.resolve(MODEL_FILE)) && !TritonConfigs.isTritonLayout(folder)) {
                    log.info("skipping " + folder + ": no " + MODEL_FILE + " and no Triton version folder");
                    continue;
                }
                ServedModel model = load(name, folder, options, compute);
                // Triton's statistics count clients' requests only; the Prometheus histograms keep the warm-up.
                options.metrics().forgetStatistics(name);
                ready.put(name, model);
                log.info(String.format(Locale.ROOT, "model %s ready on %s (loaded and warmed up in %.0f ms)", name,
                        model.info().getDevice(), (System.nanoTime() - start) / 1e6));
            } catch (InvalidModelException | NativeException | IOException | UncheckedIOException e) {
                log.warning("model " + name + " failed to load and is skipped: " + e.getMessage());
                failed.put(name, ModelInfo.newBuilder().setName(name).setStatus(ModelStatus.MODEL_STATUS_FAILED)
                        .setStatusMessage(String.valueOf(e.getMessage())).build());
            }
        }
        return new ModelRepository(root, compute, ready, failed);
    }

    private static ServedModel load(String name, Path folder, Options options, CpuCompute compute)
            throws IOException {
        TritonConfigs.Read triton = TritonConfigs.isTritonLayout(folder) ? TritonConfigs.read(folder) : null;
        ModelConfig config = triton != null ? triton.fovea() : ModelConfigs.read(folder);
        List<String> labels = triton != null ? tritonLabels(triton, folder) : readLabels(folder, config);
        Device device = Device.parse(config.getDevice());
        if (device.type() == Device.Type.CUDA && device.index() >= TorchRuntime.cudaDeviceCount()) {
            throw new InvalidModelException(folder.resolve(ModelConfigs.FILE_NAME) + ": device " + device
                    + " is not available (this machine has " + TorchRuntime.cudaDeviceCount() + " CUDA devices)");
        }
        Preprocessing preprocessing = ModelConfigs.preprocessing(config);
        TorchModule module = TorchModule.load(triton != null ? triton.modelFile() : folder.resolve(MODEL_FILE),
                device);
        DType precision = ModelConfigs.precision(config);
        if (precision != DType.FLOAT32 || config.getChannelsLast()) {
            try {
                module.convert(precision, config.getChannelsLast());
            } catch (RuntimeException e) {
                module.close();
                throw e;
            }
        }
        ModelRunner runner = new ModelRunner(module, new ModelRunner.Settings(name, device, preprocessing,
                config.getTask() == Task.TASK_CLASSIFICATION, labels, config.getThreads(),
                config.getQueueCapacity() > 0 ? config.getQueueCapacity() : options.queueCapacity(),
                config.getMaxBatchSize(), config.getInstances(), ModelConfigs.batching(config)),
                compute, options.metrics().observerFor(name));
        try {
            ModelInfo.Builder info = ModelInfo.newBuilder()
                    .setName(name)
                    .setStatus(ModelStatus.MODEL_STATUS_READY)
                    .setDevice(device.toString())
                    .setConfig(config)
                    .addAllLabels(labels);
            if (triton == null) {
                List<ModelSpec.Tensor> outputs = warmUp(runner, warmUpPicture(preprocessing),
                        conversion(config, device));
                int channels = preprocessing.channelOrder() == PixelFormat.GRAY ? 1 : 3;
                ModelSpec spec = new ModelSpec(name, config.getMaxBatchSize(), true,
                        List.of(new ModelSpec.Tensor("input", ElementType.UINT8, List.of(-1L, -1L, (long) channels))),
                        outputs, labels);
                // fovea.v1 describes the tensor the model takes once the server has preprocessed a picture.
                info.setInput(TensorSpec.newBuilder().setName("input").setDtype(ElementType.FP32.specName())
                        .addShape(-1).addShape(channels).addShape(preprocessing.cropHeight())
                        .addShape(preprocessing.cropWidth()));
                outputs.forEach(output -> info.addOutputs(describe(output)));
                return new ServedModel(spec, info.build(), runner, ModelConfigs.servingConfig(config, spec));
            }
            ModelSpec.Tensor input = TritonConfigs.input(triton.triton().getInput(0));
            List<ModelSpec.Tensor> outputs = TritonConfigs.checkOutputs(triton.triton(),
                    warmUp(runner, warmUpTensor(input), ""), folder);
            ModelSpec spec = new ModelSpec(name, triton.triton().getMaxBatchSize(), false, List.of(input), outputs,
                    labels);
            info.setInput(describe(input));
            outputs.forEach(output -> info.addOutputs(describe(output)));
            if (!triton.ignored().isEmpty()) {
                String ignored = "config.pbtxt fields Fovea does not apply: " + String.join(", ", triton.ignored());
                log.warning("model " + name + ": " + ignored);
                info.setStatusMessage(ignored);
            }
            return new ServedModel(spec, info.build(), runner, triton.triton());
        } catch (RuntimeException | IOException e) {
            runner.close();
            throw e;
        }
    }

    private static List<String> tritonLabels(TritonConfigs.Read triton, Path folder) throws IOException {
        Optional<Path> file = TritonConfigs.labelsFile(triton.triton(), folder);
        if (file.isEmpty()) {
            return List.of();
        }
        if (!Files.exists(file.get())) {
            throw new InvalidModelException(folder.resolve(ModelConfigs.FILE_NAME) + ": label_filename "
                    + file.get() + " does not exist");
        }
        return Files.readAllLines(file.get()).stream().map(String::strip).filter(line -> !line.isEmpty()).toList();
    }

    /**
     * The words a failed warm-up gets when the model was converted: libtorch lacks kernels for some precisions on
     * some devices (FP16 convolutions on the CPU), and that shows at the first forward, which is the warm-up.
     */
    private static String conversion(ModelConfig config, Device device) {
        if (config.getPrecision() == Precision.FP32 && !config.getChannelsLast()) {
            return "";
        }
        return " with precision " + config.getPrecision() + (config.getChannelsLast() ? " and channels_last" : "")
                + " on " + device + " (libtorch may have no such kernels for this model there; try FP32 or BF16)";
    }

    /** A mid-gray picture of the model's crop size. */
    private static InferenceRequest warmUpPicture(Preprocessing preprocessing) {
        int width = preprocessing.cropWidth();
        int height = preprocessing.cropHeight();
        Arena memory = Arena.ofShared();
        MemorySegment pixels = memory.allocate((long) width * height * 3);
        pixels.fill((byte) 128);
        return new InferenceRequest(List.of(new InputImage.Picture(new ImageInput.Pixels(pixels, width, height,
                width * 3, PixelFormat.RGB))), 1, true, InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(),
                memory);
    }

    /** A zero tensor of the input's type and shape as the model takes it (variable dims as 1). */
    private static InferenceRequest warmUpTensor(ModelSpec.Tensor input) {
        DType dtype = input.type().nativeType();
        long[] shape = (input.reshape().isEmpty() ? input.dims() : input.reshape()).stream()
                .mapToLong(size -> size < 0 ? 1 : size).toArray();
        long bytes = dtype.byteSize();
        for (long size : shape) {
            bytes *= size;
        }
        Arena memory = Arena.ofShared();
        return new InferenceRequest(List.of(new InputImage.Tensor(dtype, shape, memory.allocate(bytes, 16))), 1,
                true, InferenceRequest.NO_DEADLINE, () -> false, System.nanoTime(), memory);
    }

    /**
     * Runs one input through preprocessing and forward, so libtorch's first-call costs (TorchScript optimisation,
     * allocator warm-up) are paid before the model reports ready; records the output shapes.
     */
    private static List<ModelSpec.Tensor> warmUp(ModelRunner runner, InferenceRequest request, String conversion)
            throws IOException {
        Predictions predictions;
        try {
            predictions = runner.submit(request).get(WARM_UP_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new InvalidModelException("warm-up failed" + conversion + ": " + e.getCause().getMessage());
        } catch (TimeoutException e) {
            throw new InvalidModelException("warm-up took longer than " + WARM_UP_TIMEOUT_SECONDS + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while warming up", e);
        }
        try (predictions) {
            List<ModelSpec.Tensor> specs = new ArrayList<>();
            List<Prediction.OutputTensor> outputs = predictions.first().outputs();
            for (int i = 0; i < outputs.size(); i++) {
                specs.add(new ModelSpec.Tensor("output_" + i, ElementType.named(outputs.get(i).dtype()),
                        Arrays.stream(outputs.get(i).shape()).boxed().toList()));
            }
            return specs;
        }
    }

    /** fovea.v1's description of a tensor: its shape with the batch dimension (-1) first. */
    private static TensorSpec describe(ModelSpec.Tensor tensor) {
        return TensorSpec.newBuilder().setName(tensor.name()).setDtype(tensor.type().specName()).addShape(-1)
                .addAllShape(tensor.dims()).build();
    }

    private static List<String> readLabels(Path folder, ModelConfig config) throws IOException {
        Path file = folder.resolve(config.getLabelsFile().isEmpty() ? DEFAULT_LABELS_FILE : config.getLabelsFile());
        if (!Files.exists(file)) {
            if (!config.getLabelsFile().isEmpty()) {
                throw new InvalidModelException(folder.resolve(ModelConfigs.FILE_NAME) + ": labels_file " + file
                        + " does not exist");
            }
            return List.of();
        }
        return Files.readAllLines(file).stream().map(String::strip).filter(line -> !line.isEmpty()).toList();
    }

    public Path root() {
        return root;
    }

    /** The serving model called {@code name}, if it loaded. */
    public Optional<ServedModel> find(String name) {
        return Optional.ofNullable(ready.get(name));
    }

    /** Every model folder's description, ready and failed, sorted by name. */
    public List<ModelInfo> describeAll() {
        Map<String, ModelInfo> all = new TreeMap<>(failed);
        ready.forEach((name, model) -> all.put(name, model.info()));
        return List.copyOf(all.values());
    }

    /** The description of {@code name}, ready or failed. */
    public Optional<ModelInfo> describe(String name) {
        ServedModel model = ready.get(name);
        return model != null ? Optional.of(model.info()) : Optional.ofNullable(failed.get(name));
    }

    public List<ServedModel> servedModels() {
        return List.copyOf(ready.values());
    }

    /** Lets every model finish its queued requests, then frees them. */
    @Override
    public void close() {
        for (ServedModel model : ready.values()) {
            model.runner().close();
        }
        compute.close();
    }
}

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
import dev.fovea.torch.PixelFormat;
import dev.fovea.torch.Preprocessing;
import dev.fovea.torch.TorchModule;
import dev.fovea.torch.TorchRuntime;
import dev.fovea.v1.ModelConfig;
import dev.fovea.v1.ModelInfo;
import dev.fovea.v1.ModelStatus;
import dev.fovea.v1.Task;
import dev.fovea.v1.TensorSpec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;

/**
 * Loads one version of a model: the TorchScript module onto its device, a runner for it, and one warm-up request
 * through preprocessing and forward, so the version is ready to serve (and its output shapes known) before anyone
 * can reach it.
 */
final class ModelLoader {

    private static final Logger log = Logger.getLogger(ModelLoader.class.getName());
    private static final long WARM_UP_TIMEOUT_SECONDS = 300;

    private ModelLoader() {}

    /**
     * Loads {@code version} of {@code model} onto its device and warms it up; the caller owns the result and retires
     * it. The warm-up shows in the Prometheus series but not in the model's statistics (Triton's count clients'
     * requests only).
     */
    static ServedModel load(ModelFolder model, Versions.Version version, CpuCompute compute, int queueCapacity,
            ServerMetrics metrics) throws IOException {
        AtomicBoolean warm = new AtomicBoolean();
        ServedModel served = load(model, version, compute, queueCapacity, metrics.observerFor(model.name(), warm::get));
        warm.set(true);
        return served;
    }

    private static ServedModel load(ModelFolder model, Versions.Version version, CpuCompute compute,
            int queueCapacity, ModelRunner.Observer observer) throws IOException {
        String name = model.name();
        Path folder = model.folder();
        TritonConfigs.Read triton = model.triton();
        ModelConfig config = model.config();
        List<String> labels = model.labels();
        Device device = Device.parse(config.getDevice());
        if (device.type() == Device.Type.CUDA && device.index() >= TorchRuntime.cudaDeviceCount()) {
            throw new InvalidModelException(folder.resolve(ModelConfigs.FILE_NAME) + ": device " + device
                    + " is not available (this machine has " + TorchRuntime.cudaDeviceCount() + " CUDA devices)");
        }
        Preprocessing preprocessing = ModelConfigs.preprocessing(config);
        TorchModule module = TorchModule.load(version.modelFile(), device);
        ModelRunner runner = new ModelRunner(module, new ModelRunner.Settings(name, device, preprocessing,
                config.getTask() == Task.TASK_CLASSIFICATION, labels, config.getThreads(),
                config.getQueueCapacity() > 0 ? config.getQueueCapacity() : queueCapacity,
                config.getMaxBatchSize(), config.getInstances(), ModelConfigs.batching(config)),
                compute, observer);
        try {
            ModelInfo.Builder info = ModelInfo.newBuilder()
                    .setName(name)
                    .setVersion(version.name())
                    .setStatus(ModelStatus.MODEL_STATUS_READY)
                    .setDevice(device.toString())
                    .setConfig(config)
                    .addAllLabels(labels);
            if (triton == null) {
                List<ModelSpec.Tensor> outputs = warmUp(runner, warmUpPicture(preprocessing));
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
                    warmUp(runner, warmUpTensor(input)), folder);
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
    private static List<ModelSpec.Tensor> warmUp(ModelRunner runner, InferenceRequest request)
            throws IOException {
        Predictions predictions;
        try {
            predictions = runner.submit(request).get(WARM_UP_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new InvalidModelException("warm-up failed: " + e.getCause().getMessage());
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
}

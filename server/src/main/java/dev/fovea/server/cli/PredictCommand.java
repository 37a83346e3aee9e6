package dev.fovea.server.cli;

import dev.fovea.torch.DType;
import dev.fovea.torch.Device;
import dev.fovea.torch.NativeException;
import dev.fovea.torch.Tensor;
import dev.fovea.torch.TorchModule;
import dev.fovea.torch.TorchRuntime;
import dev.fovea.server.inference.Softmax;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code fovea predict}: loads a TorchScript model, runs it once on a raw tensor file and prints the top classes of
 * each row of its first output. The input file is memory-mapped and handed to libtorch without a copy.
 */
@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Run a TorchScript model on a raw tensor file and print its top-k classes.")
final class PredictCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--model", required = true, description = "TorchScript file (model.pt).")
    private Path model;

    @Option(names = "--input", required = true,
            description = "Raw little-endian tensor, C order, exactly the bytes --shape and --dtype need.")
    private Path input;

    @Option(names = "--shape", required = true, split = ",", description = "Input shape, e.g. 1,3,224,224.")
    private long[] shape;

    @Option(names = "--dtype", defaultValue = "float32", description = "Input element type (default: ${DEFAULT-VALUE}).")
    private String dtype;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda:N (default: ${DEFAULT-VALUE}).")
    private String device;

    @Option(names = "--threads", defaultValue = "2", description = "libtorch intra-op threads (default: ${DEFAULT-VALUE}).")
    private int threads;

    @Option(names = "--labels", description = "Optional labels file, one label per line, in class order.")
    private Path labels;

    @Option(names = "--top-k", defaultValue = "5", description = "Classes to print per row (default: ${DEFAULT-VALUE}).")
    private int topK;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        DType inputType;
        Device target;
        try {
            inputType = DType.valueOf(dtype.toUpperCase(Locale.ROOT));
            target = Device.parse(device);
        } catch (IllegalArgumentException e) {
            err.println("fovea predict: " + e.getMessage());
            return 2;
        }
        List<String> labelNames = labels == null ? List.of() : Files.readAllLines(labels);
        TorchRuntime.setIntraOpThreads(threads);
        out.printf("libtorch %s, %d intra-op threads, device %s%n", TorchRuntime.torchVersion(), threads, target);
        try (Arena arena = Arena.ofConfined();
                FileChannel file = FileChannel.open(input, StandardOpenOption.READ)) {
            MemorySegment bytes = file.map(FileChannel.MapMode.READ_ONLY, 0, file.size(), arena);
            long loadStart = System.nanoTime();
            try (TorchModule module = TorchModule.load(model, target);
                    Tensor tensor = Tensor.wrap(bytes, inputType, shape);
                    Tensor onDevice = target.equals(Device.CPU) ? null : tensor.to(target)) {
                out.printf("loaded %s in %.1f ms%n", model, (System.nanoTime() - loadStart) / 1e6);
                long forwardStart = System.nanoTime();
                List<Tensor> outputs = module.forward(onDevice == null ? tensor : onDevice);
                double forwardMillis = (System.nanoTime() - forwardStart) / 1e6;
                try {
                    out.printf("input %s, forward %.2f ms, %d output tensor(s)%n", tensor, forwardMillis,
                            outputs.size());
                    printTopK(out, outputs.getFirst(), labelNames);
                } finally {
                    outputs.forEach(Tensor::close);
                }
            }
        } catch (NativeException | IllegalArgumentException e) {
            err.println("fovea predict: " + e.getMessage());
            return 1;
        }
        out.flush();
        return 0;
    }

    private void printTopK(PrintWriter out, Tensor logits, List<String> labelNames) {
        try (Tensor host = logits.device().equals(Device.CPU) ? null : logits.to(Device.CPU)) {
            Tensor readable = host == null ? logits : host;
            long[] dims = readable.shape();
            if (readable.dtype() != DType.FLOAT32 || dims.length != 2) {
                out.printf("output 0 is %s, not float32 [batch, classes]: no top-k to print%n", readable);
                return;
            }
            float[] values = readable.data().toArray(ValueLayout.JAVA_FLOAT);
            int classes = Math.toIntExact(dims[1]);
            for (int row = 0; row < dims[0]; row++) {
                float[] probabilities = Softmax.of(Arrays.copyOfRange(values, row * classes, (row + 1) * classes));
                out.printf("row %d:", row);
                for (int index : Softmax.topK(probabilities, topK)) {
                    String label = index < labelNames.size() ? labelNames.get(index) : "class " + index;
                    out.printf("  %s %.4f", label, probabilities[index]);
                }
                out.println();
            }
        }
    }
}

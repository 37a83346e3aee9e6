package dev.fovea.server.cli;

import dev.fovea.torch.TorchRuntime;
import picocli.CommandLine.IVersionProvider;

/** {@code fovea --version}: our version and the libtorch this process runs. */
final class VersionProvider implements IVersionProvider {

    @Override
    public String[] getVersion() {
        String version = Fovea.class.getPackage().getImplementationVersion();
        return new String[] {
            "fovea " + (version == null ? "(development build)" : version),
            "libtorch " + TorchRuntime.torchVersion() + ", CUDA devices: " + TorchRuntime.cudaDeviceCount(),
            "JVM " + Runtime.version()
        };
    }
}

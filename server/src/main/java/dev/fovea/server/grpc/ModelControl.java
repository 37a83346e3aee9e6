package dev.fovea.server.grpc;

import dev.fovea.server.serving.Statuses;
import dev.fovea.oip.ModelRepositoryParameter;
import dev.fovea.oip.RepositoryModelLoadRequest;
import dev.fovea.oip.RepositoryModelUnloadRequest;
import dev.fovea.server.limits.ClientText;
import dev.fovea.server.repository.ModelRepository;
import dev.fovea.v1.ModelInfo;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * Model control (load, unload) for both APIs: the requests' fields checked, the change handed to the repository
 * (which runs it on its own thread and refuses it unless its control mode allows), the answer sent when it is done.
 * These are administrative calls; the listeners' bearer-token check covers them like every other method.
 */
final class ModelControl {

    /** The most parameters a load or unload request may carry (Triton's have one or two). */
    private static final int MAX_PARAMETERS = 16;

    private final ModelRepository repository;

    ModelControl(ModelRepository repository) {
        this.repository = repository;
    }

    /** Triton's RepositoryModelLoad: the {@code config} parameter (JSON) overrides config.pbtxt. */
    CompletableFuture<ModelInfo> load(RepositoryModelLoadRequest request) {
        try {
            checkRepositoryName(request.getRepositoryName());
            Map<String, ModelRepositoryParameter> parameters = checkParameters(request.getParametersMap(), "config");
            ModelRepositoryParameter config = parameters.get("config");
            if (config != null && config.getParameterChoiceCase()
                    != ModelRepositoryParameter.ParameterChoiceCase.STRING_PARAM) {
                throw Status.INVALID_ARGUMENT.withDescription("parameters[config]: must be a string_param holding "
                        + "the model configuration as JSON").asRuntimeException();
            }
            return repository.load(request.getModelName(), config == null ? "" : config.getStringParam());
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Triton's RepositoryModelUnload. {@code unload_dependents} is accepted and changes nothing: Fovea serves no
     * ensembles, so no model depends on another.
     */
    CompletableFuture<ModelInfo> unload(RepositoryModelUnloadRequest request) {
        try {
            checkRepositoryName(request.getRepositoryName());
            ModelRepositoryParameter dependents = checkParameters(request.getParametersMap(), "unload_dependents")
                    .get("unload_dependents");
            if (dependents != null && dependents.getParameterChoiceCase()
                    != ModelRepositoryParameter.ParameterChoiceCase.BOOL_PARAM) {
                throw Status.INVALID_ARGUMENT.withDescription("parameters[unload_dependents]: must be a bool_param")
                        .asRuntimeException();
            }
            return repository.unload(request.getModelName());
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** Answers {@code responses} with {@code answer} of the change's result, or the failure's status. */
    static <T> void reply(CompletableFuture<ModelInfo> change, StreamObserver<T> responses,
            Function<ModelInfo, T> answer) {
        change.whenComplete((info, failure) -> {
            if (failure != null) {
                responses.onError(Statuses.of(failure).asRuntimeException());
                return;
            }
            responses.onNext(answer.apply(info));
            responses.onCompleted();
        });
    }

    private static void checkRepositoryName(String name) {
        if (!name.isEmpty()) {
            throw Status.NOT_FOUND.withDescription("repository_name " + ClientText.quote(name)
                    + ": this server has one repository; leave the name empty").asRuntimeException();
        }
    }

    private static Map<String, ModelRepositoryParameter> checkParameters(
            Map<String, ModelRepositoryParameter> parameters, String known) {
        if (parameters.size() > MAX_PARAMETERS) {
            throw Status.INVALID_ARGUMENT.withDescription("parameters: " + parameters.size() + " given; at most "
                    + MAX_PARAMETERS).asRuntimeException();
        }
        for (String key : parameters.keySet()) {
            if (!key.equals(known)) {
                throw Status.INVALID_ARGUMENT.withDescription("parameters: " + ClientText.quote(key)
                        + " is not supported (supported: " + known + (key.startsWith("file:")
                                ? "; model files are read from the repository folder, never sent in a request"
                                : "") + ")").asRuntimeException();
            }
        }
        return parameters;
    }
}

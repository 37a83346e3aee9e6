package dev.fovea.server.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fovea.server.inference.InferenceException;
import io.grpc.Status;
import org.junit.jupiter.api.Test;

/** Inference failures become statuses whose descriptions are one line, whatever the model's error text. */
class StatusesTest {

    private static final String TRACEBACK = """
            The following operation failed in the TorchScript interpreter.
            Traceback of TorchScript, original code (most recent call last):
              File "/home/author/models/vit.py", line 48, in forward
                return self.head(x)
                       ~~~~~~~~~ <--- HERE
            RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x768 and 3072x4)
            """;

    @Test
    void aTracebackBecomesItsLastLine() {
        Status status = Statuses.of(new InferenceException(InferenceException.Reason.MODEL_ERROR, TRACEBACK));
        assertEquals(Status.Code.INTERNAL, status.getCode());
        assertEquals("RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x768 and 3072x4)",
                status.getDescription());
    }

    @Test
    void oneLineMessagesPassAsTheyAre() {
        String message = "images[0].encoded: not a JPEG or PNG image";
        Status status = Statuses.of(new InferenceException(InferenceException.Reason.INVALID_INPUT, message));
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
        assertEquals(message, status.getDescription());
    }
}

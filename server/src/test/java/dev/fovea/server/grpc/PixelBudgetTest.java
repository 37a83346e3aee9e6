package dev.fovea.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fovea.server.TestImages;
import dev.fovea.server.inference.InferenceException;
import dev.fovea.server.limits.ImageLimits;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** The per-image and per-request pixel limits, and the messages that name the field that broke them. */
class PixelBudgetTest {

    private static String refusal(Runnable charge) {
        InferenceException e = assertThrows(InferenceException.class, charge::run);
        assertEquals(InferenceException.Reason.INVALID_INPUT, e.reason());
        return e.getMessage();
    }

    @Test
    void theDefaultsAreAnEightKPictureAndSixtyFourFullHdFramesPerRequest() {
        assertEquals(7680L * 4320, ImageLimits.DEFAULT.maxImagePixels());
        assertEquals(64L * 1920 * 1080, ImageLimits.DEFAULT.maxRequestPixels());
        PixelBudget budget = new PixelBudget(ImageLimits.DEFAULT);
        for (int i = 0; i < 64; i++) {
            budget.charge(1920, 1080, "images[" + i + "]");
        }
        assertEquals("images[64]: the request's pictures reach 134784000 pixels here, over the limit of 132710400 "
                + "pixels per request", refusal(() -> budget.charge(1920, 1080, "images[64]")));
    }

    @Test
    void onePictureOverThePerImageLimitIsRefusedByItsField() {
        PixelBudget budget = new PixelBudget(ImageLimits.DEFAULT);
        budget.charge(7680, 4320, "images[0]");
        assertEquals("images[1]: 7681x4320 pixels exceed the limit of 33177600 pixels per image",
                refusal(() -> budget.charge(7681, 4320, "images[1]")));
        assertEquals("images[2]: 16385x1 pixels exceed the largest side, 16384",
                refusal(() -> budget.charge(16385, 1, "images[2]")));
    }

    @Test
    void encodedImagesCountAsTheirHeadersClaim() {
        PixelBudget budget = new PixelBudget(new ImageLimits(100 * 100, 3 * 100 * 100));
        MemorySegment claims = MemorySegment.ofArray(TestImages.jpegClaiming(100, 100));
        budget.chargeEncoded(claims, "images[0].encoded");
        budget.chargeEncoded(claims, "images[1].encoded");
        budget.chargeEncoded(claims, "images[2].encoded");
        assertEquals("images[3].encoded: the request's pictures reach 40000 pixels here, over the limit of 30000 "
                + "pixels per request", refusal(() -> budget.chargeEncoded(claims, "images[3].encoded")));
        assertEquals("images[0].encoded: 16384x4096 pixels exceed the limit of 10000 pixels per image",
                refusal(() -> new PixelBudget(new ImageLimits(100 * 100, 3 * 100 * 100)).chargeEncoded(
                        MemorySegment.ofArray(TestImages.jpegClaiming(16384, 4096)), "images[0].encoded")));
        assertEquals("inputs[0][1]: not a JPEG or PNG image", refusal(() -> budget.chargeEncoded(
                MemorySegment.ofArray(new byte[] {1, 2, 3}), "inputs[0][1]")));
    }

    @Test
    void limitsOutsideWhatTheNativeLayerTakesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new ImageLimits(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new ImageLimits(ImageLimits.MAX_PIXELS + 1, 1L << 40));
        assertThrows(IllegalArgumentException.class, () -> new ImageLimits(1, 0));
    }
}

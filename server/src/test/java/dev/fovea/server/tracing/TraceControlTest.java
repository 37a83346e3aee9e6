package dev.fovea.server.tracing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TraceControlTest {

    private static int sampled(TraceControl control, String model, int requests) {
        int traced = 0;
        for (int i = 0; i < requests; i++) {
            TraceControl.Scope scope = control.scope(model);
            if (scope.on() && scope.sample()) {
                traced++;
            }
        }
        return traced;
    }

    @Test
    void offByDefaultSamplesNothing() {
        TraceControl control = new TraceControl(TraceSettings.DEFAULT);
        assertFalse(control.enabled());
        assertEquals(0, sampled(control, "cnn", 5000));
    }

    @Test
    void rateNTracesOneRequestInN() {
        TraceControl control = new TraceControl(new TraceSettings(TraceSettings.Level.TIMESTAMPS, 4, -1));
        assertEquals(25, sampled(control, "cnn", 100));
        control.set(null, new TraceControl.Overrides(null, 1L, null));
        assertEquals(7, sampled(control, "cnn", 7));
    }

    @Test
    void rateZeroStartsNoTraceOfItsOwn() {
        TraceControl control = new TraceControl(new TraceSettings(TraceSettings.Level.TIMESTAMPS, 0, -1));
        assertTrue(control.enabled());
        assertEquals(0, sampled(control, "cnn", 100));
    }

    @Test
    void countStopsTracingAndReportsWhatIsLeft() {
        TraceControl control = new TraceControl(new TraceSettings(TraceSettings.Level.TIMESTAMPS, 1, 3));
        assertEquals(3, sampled(control, "cnn", 10));
        assertEquals(0, control.settings(null).count());
        control.set(null, new TraceControl.Overrides(null, 2L, null));
        assertEquals(0, control.settings(null).count(), "changing the rate leaves the count of traces left");
        control.set(null, new TraceControl.Overrides(null, 2L, 5L));
        assertEquals(5, control.settings(null).count());
    }

    @Test
    void aModelsOwnSettingsApplyToItAloneAndTheRestFollowTheGlobalOnes() {
        TraceControl control = new TraceControl(TraceSettings.DEFAULT);
        control.set("raw", new TraceControl.Overrides(TraceSettings.Level.TIMESTAMPS, 1L, null));
        assertTrue(control.enabled());
        assertEquals(4, sampled(control, "raw", 4));
        assertEquals(0, sampled(control, "cnn", 4));
        assertEquals(TraceSettings.Level.OFF, control.settings(null).level());

        control.set(null, new TraceControl.Overrides(null, null, 2L));
        assertEquals(2, control.settings("raw").count(), "a setting the model does not set follows the global one");
        control.set("raw", TraceControl.Overrides.NONE);
        assertEquals(TraceSettings.Level.OFF, control.settings("raw").level());
        assertFalse(control.enabled());
    }

    @Test
    void clearedGlobalSettingsGoBackToTheStartUpOnes() {
        TraceSettings startup = new TraceSettings(TraceSettings.Level.TIMESTAMPS, 10, -1);
        TraceControl control = new TraceControl(startup);
        control.set(null, new TraceControl.Overrides(TraceSettings.Level.OFF, 3L, null));
        assertEquals(new TraceSettings(TraceSettings.Level.OFF, 3, -1), control.settings(null));
        control.set(null, TraceControl.Overrides.NONE);
        assertEquals(startup, control.settings(null));
    }

    @Test
    void outOfRangeValuesChangeNothing() {
        TraceControl control = new TraceControl(TraceSettings.DEFAULT);
        assertThrows(IllegalArgumentException.class,
                () -> control.set("raw", new TraceControl.Overrides(TraceSettings.Level.TIMESTAMPS, -1L, null)));
        assertThrows(IllegalArgumentException.class,
                () -> control.set(null, new TraceControl.Overrides(null, null, -2L)));
        assertEquals(TraceControl.Overrides.NONE, control.overrides("raw"));
        assertEquals(TraceSettings.DEFAULT, control.settings(null));
    }
}

package dev.fovea.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class DeviceTest {

    @Test
    void parsesTheNamesLibtorchUses() {
        assertEquals(Device.CPU, Device.parse("cpu"));
        assertEquals(Device.cuda(0), Device.parse("cuda"));
        assertEquals(Device.cuda(3), Device.parse("cuda:3"));
        assertEquals("cuda:3", Device.cuda(3).toString());
        assertEquals("cpu", Device.CPU.toString());
    }

    @Test
    void rejectsAnythingElseNamingTheText() {
        for (String bad : new String[] {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Device.parse(bad));
            assertEquals(true, e.getMessage().contains("'" + bad + "'") || e.getMessage().contains("negative"),
                    e.getMessage());
        }
    }
}

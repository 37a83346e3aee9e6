package dev.fovea.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fovea.server.TestServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Idle and surplus HTTP connections are closed, and the connections within the limits keep working. */
@Timeout(value = 60, unit = TimeUnit.SECONDS) // a hang guard: each check waits for the server's own action
class HttpConnectionLimitsTest {

    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    @Test
    void aConnectionWithNothingInFlightIsClosedWhenIdle() throws Exception {
        try (HttpServer http = HttpServer.start(server.server().openInference(), "127.0.0.1", 0, 1 << 20, 1,
                HttpAccess.OPEN, 8, Duration.ofMillis(300));
                Socket idle = new Socket("127.0.0.1", http.port())) {
            assertEquals(-1, idle.getInputStream().read(), "the server closed the idle connection");
        }
    }

    @Test
    void connectionsOverTheLimitAreClosedAndTheOthersGoOn() throws Exception {
        try (HttpServer http = HttpServer.start(server.server().openInference(), "127.0.0.1", 0, 1 << 20, 1,
                HttpAccess.OPEN, 2, Duration.ofMinutes(5));
                Socket first = new Socket("127.0.0.1", http.port());
                Socket second = new Socket("127.0.0.1", http.port())) {
            assertTrue(live(first));
            assertTrue(live(second));
            try (Socket third = new Socket("127.0.0.1", http.port())) {
                assertEquals(-1, third.getInputStream().read(), "the third connection is closed at once");
            }
            assertTrue(live(first), "the connections within the limit still answer");
        }
    }

    /** Sends a keep-alive health check and reads the status line. */
    private static boolean live(Socket socket) throws IOException {
        socket.getOutputStream().write("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII));
        InputStream in = socket.getInputStream();
        byte[] statusLine = new byte[12];
        int read = 0;
        while (read < statusLine.length) {
            int n = in.read(statusLine, read, statusLine.length - read);
            if (n < 0) {
                return false;
            }
            read += n;
        }
        String status = new String(statusLine, StandardCharsets.US_ASCII);
        // Drain the rest of this small response so the next one starts with its status line.
        byte[] rest = new byte[4096];
        socket.setSoTimeout(2_000);
        int n = in.read(rest);
        assertTrue(n > 0);
        return status.equals("HTTP/1.1 200");
    }
}

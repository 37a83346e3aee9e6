package dev.fovea.bench.load;

import dev.fovea.client.FoveaClient;
import dev.fovea.client.FrameStream;
import dev.fovea.v1.Frame;
import dev.fovea.v1.Image;
import dev.fovea.v1.PredictRequest;
import dev.fovea.v1.PredictResponse;
import dev.fovea.v1.StreamOptions;
import dev.fovea.v1.StreamPredictResponse;
import io.grpc.Status;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Drives one level of load against a server: {@code concurrency} callers, each sending the same image over and over
 * for the warm-up and then the measured duration, with one request outstanding each: a unary caller waits for each
 * response, a stream caller keeps one StreamPredict call and sends the next frame when the previous one's result
 * arrives.
 */
final class LoadRun {

    private final FoveaClient client;
    private final String model;
    private final Image image;
    private final PrintStream progress;

    LoadRun(FoveaClient client, String model, Image image, PrintStream progress) {
        this.client = client;
        this.model = model;
        this.image = image;
        this.progress = progress;
    }

    LevelResult unary(int concurrency, Duration warmUp, Duration measured) throws InterruptedException {
        PredictRequest request = PredictRequest.newBuilder().setModel(model).addImages(image).setTopK(1).build();
        return run("unary", concurrency, warmUp, measured, (latencies, stages, stop, measuring) -> {
            while (!stop.get()) {
                long start = System.nanoTime();
                PredictResponse response = client.predict(request);
                if (measuring.get()) {
                    latencies.add(System.nanoTime() - start);
                    stages.add(response.getResults(0).getTimings());
                }
            }
        });
    }

    LevelResult stream(int concurrency, Duration warmUp, Duration measured) throws InterruptedException {
        StreamOptions options = StreamOptions.newBuilder().setModel(model).setTopK(1).build();
        return run("stream", concurrency, warmUp, measured, (latencies, stages, stop, measuring) -> {
            ConcurrentHashMap<Long, Long> sentAt = new ConcurrentHashMap<>();
            // One frame in flight per stream, like one outstanding request per unary caller: otherwise the latency
            // measured is the time frames wait in HTTP/2 flow-control windows, not the server's.
            Semaphore inFlight = new Semaphore(1);
            FrameStream stream = client.stream(options, new FrameStream.Listener() {
                @Override
                public void onResponse(StreamPredictResponse response) {
                    Long start = sentAt.remove(response.getFrameId());
                    if (start != null && measuring.get() && response.hasResult()) {
                        latencies.add(System.nanoTime() - start);
                        stages.add(response.getResult().getTimings());
                    }
                    inFlight.release();
                }

                @Override
                public void onClose(Status status) {
                    if (!status.isOk()) {
                        progress.println("stream ended: " + status);
                    }
                }
            });
            long frameId = 0;
            while (!stop.get()) {
                if (!inFlight.tryAcquire(100, TimeUnit.MILLISECONDS)) {
                    continue;
                }
                sentAt.put(frameId, System.nanoTime());
                stream.send(Frame.newBuilder().setFrameId(frameId++).setImage(image).build());
            }
            stream.complete();
            stream.awaitTermination(Duration.ofMinutes(1));
        });
    }

    private interface Caller {
        void loop(Latencies latencies, StageTotals stages, AtomicBoolean stop, AtomicBoolean measuring)
                throws Exception;
    }

    private LevelResult run(String mode, int concurrency, Duration warmUp, Duration measured, Caller caller)
            throws InterruptedException {
        Latencies latencies = new Latencies();
        StageTotals stages = new StageTotals();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicBoolean measuring = new AtomicBoolean();
        List<Thread> callers = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        for (int i = 0; i < concurrency; i++) {
            callers.add(Thread.ofPlatform().name("fovea-bench-" + mode + "-" + i).start(() -> {
                try {
                    caller.loop(latencies, stages, stop, measuring);
                } catch (Exception e) {
                    synchronized (failures) {
                        failures.add(e);
                    }
                    stop.set(true);
                }
            }));
        }
        Thread.sleep(warmUp.toMillis());
        measuring.set(true);
        long start = System.nanoTime();
        long end = start + measured.toNanos();
        while (System.nanoTime() < end && !stop.get()) {
            Thread.sleep(Math.min(500, Math.max(1, (end - System.nanoTime()) / 1_000_000)));
            double elapsed = (System.nanoTime() - start) / 1e9;
            progress.printf(Locale.ROOT, "\r%-6s concurrency %3d: %5.1f s, %6d requests, %8.1f/s, p50 %.2f ms   ",
                    mode, concurrency, elapsed, latencies.count(), latencies.count() / elapsed,
                    latencies.percentileMillis(0.5));
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        measuring.set(false);
        stop.set(true);
        for (Thread thread : callers) {
            thread.join();
        }
        progress.println();
        if (!failures.isEmpty()) {
            throw new IllegalStateException(mode + " load failed: " + failures.getFirst(), failures.getFirst());
        }
        return new LevelResult(mode, concurrency, latencies.count(), seconds, latencies.percentileMillis(0.5),
                latencies.percentileMillis(0.9), latencies.percentileMillis(0.99), stages.means());
    }
}

package dev.warmstart.fetch.cache;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Serves one model file over loopback HTTP, counts the GETs, and can hold the first one halfway.
 */
final class ModelServer implements AutoCloseable {
  final byte[] model;
  final AtomicInteger gets = new AtomicInteger();

  /** Counted down when the first GET has sent half of the body. */
  final CountDownLatch firstHalfSent = new CountDownLatch(1);

  /** When set, the first GET waits for it after half of the body. */
  volatile CountDownLatch holdFirst;

  private final HttpServer server;
  private final ExecutorService executor = Executors.newCachedThreadPool();

  ModelServer(int size, long seed) throws IOException {
    model = new byte[size];
    new Random(seed).nextBytes(model);
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setExecutor(executor);
    server.createContext(
        "/",
        exchange -> {
          try (exchange) {
            if (!exchange.getRequestURI().getPath().equals("/models/model.bin")) {
              exchange.sendResponseHeaders(404, -1);
              return;
            }
            int n = gets.incrementAndGet();
            exchange.sendResponseHeaders(200, model.length);
            OutputStream out = exchange.getResponseBody();
            int half = model.length / 2;
            CountDownLatch hold = holdFirst;
            if (n == 1 && hold != null) {
              out.write(model, 0, half);
              out.flush();
              firstHalfSent.countDown();
              if (!hold.await(60, TimeUnit.SECONDS)) {
                return;
              }
              out.write(model, half, model.length - half);
            } else {
              out.write(model);
            }
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          } catch (IOException e) {
            // the client went away
          }
        });
    server.start();
  }

  String uri() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/models/model.bin";
  }

  @Override
  public void close() {
    CountDownLatch hold = holdFirst;
    if (hold != null) {
      hold.countDown();
    }
    server.stop(0);
    executor.shutdownNow();
  }
}

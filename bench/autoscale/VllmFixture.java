// A load-driven stand-in for a vLLM server's /metrics, for bench/autoscale.sh (run as
// `java VllmFixture.java PORT`). The harness sets the offered load with POST /load?waiting=N;
// /metrics then serves the gauges a vLLM server shows under that load, in Prometheus text format.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

public class VllmFixture {
  /** Requests one replica runs at once before new ones queue (vLLM's --max-num-seqs, scaled down). */
  static final int RUNNING_CAP = 8;

  public static void main(String[] args) throws IOException {
    int port = Integer.parseInt(args[0]);
    AtomicInteger waiting = new AtomicInteger();
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
    server.createContext("/load", ex -> {
      String q = ex.getRequestURI().getQuery();
      waiting.set(Integer.parseInt(q.substring(q.indexOf('=') + 1)));
      respond(ex, "text/plain", "waiting=" + waiting.get() + "\n");
    });
    server.createContext("/metrics", ex -> {
      int w = waiting.get();
      String m = "model_name=\"bench\"";
      String body = "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
          + "# TYPE vllm:num_requests_waiting gauge\n"
          + "vllm:num_requests_waiting{" + m + "} " + w + ".0\n"
          + "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
          + "# TYPE vllm:num_requests_running gauge\n"
          + "vllm:num_requests_running{" + m + "} " + Math.min(w, RUNNING_CAP) + ".0\n"
          + "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
          + "# TYPE vllm:kv_cache_usage_perc gauge\n"
          + "vllm:kv_cache_usage_perc{" + m + "} " + Math.min(1.0, w / 64.0) + "\n";
      respond(ex, "text/plain; version=0.0.4; charset=utf-8", body);
    });
    server.start();
    System.out.println("fixture on 127.0.0.1:" + port);
  }

  static void respond(HttpExchange ex, String type, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", type);
    ex.sendResponseHeaders(200, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }
}

package dev.warmstart.fetch.command;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.warmstart.fetch.cache.SafePaths;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The training run for the image's class-data-sharing archive: {@code java
 * -XX:ArchiveClassesAtExit=A -jar warmstart.jar cds-training}, then every {@code java
 * -XX:SharedArchiveFile=A ...} starts with those classes already parsed and verified. fetch-model
 * is on the cold-start path and the AWS SDK makes up most of its start-up (about a second of class
 * loading on a small node; half of that with the archive).
 *
 * <p>Runs fetch-model twice, through the node cache, against an S3 stand-in on loopback: a miss
 * (listing, HEAD, ranged GETs, MD5 check, cache entry, hard links) and a hit, so that both paths'
 * classes are archived.
 */
@Command(
    name = "cds-training",
    hidden = true,
    description =
        "Runs fetch-model against an in-process S3 stand-in, to record the classes it loads"
            + " (-XX:ArchiveClassesAtExit) for a class-data-sharing archive.")
public final class CdsTrainingCommand implements Callable<Integer> {
  private static final String BUCKET = "training";
  private static final String KEY = "model/config.json";
  private static final byte[] CONTENT =
      "{\"architectures\": [\"TrainingForCausalLM\"]}\n".getBytes(StandardCharsets.UTF_8);
  private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");

  @Override
  public Integer call() throws Exception {
    String etag = "\"" + md5(CONTENT) + "\"";
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
    server.createContext("/", ex -> serve(ex, etag));
    server.start();
    Path dir = Files.createTempDirectory("warmstart-cds-training");
    Map<String, String> saved = new java.util.HashMap<>();
    for (String p : new String[] {"aws.accessKeyId", "aws.secretAccessKey", "aws.region"}) {
      saved.put(p, System.getProperty(p));
    }
    try {
      String endpoint = "http://127.0.0.1:" + server.getAddress().getPort();
      // The SDK's credential and region chains read system properties before the environment.
      System.setProperty("aws.accessKeyId", "training");
      System.setProperty("aws.secretAccessKey", "training");
      System.setProperty("aws.region", "us-east-1");
      for (String uid :
          new String[] {
            "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
          }) {
        StringWriter out = new StringWriter();
        FetchModelCommand fetch = new FetchModelCommand();
        fetch.env = Map.of();
        CommandLine cli =
            new CommandLine(fetch).setOut(new PrintWriter(out)).setErr(new PrintWriter(out));
        int exit =
            cli.execute(
                "--uri",
                "s3://" + BUCKET + "/model/",
                "--s3-endpoint",
                endpoint,
                "--s3-path-style",
                "--cache-dir",
                dir.resolve("cache").toString(),
                "--to",
                dir.resolve("cache/pods/training/" + uid).toString(),
                "--termination-log",
                dir.resolve("termination-log").toString());
        if (exit != 0) {
          System.err.println("cds-training: fetch-model failed:\n" + out);
          return exit;
        }
      }
      return 0;
    } finally {
      server.stop(0);
      saved.forEach(
          (p, v) -> {
            if (v == null) {
              System.clearProperty(p);
            } else {
              System.setProperty(p, v);
            }
          });
      SafePaths.deleteTree(dir);
    }
  }

  private static void serve(HttpExchange ex, String etag) throws IOException {
    try (ex) {
      String path = ex.getRequestURI().getPath();
      ex.getResponseHeaders().set("ETag", etag);
      ex.getResponseHeaders().set("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT");
      if (path.equals("/" + BUCKET) || path.equals("/" + BUCKET + "/")) {
        byte[] xml =
            ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                    + "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>"
                    + BUCKET
                    + "</Name><Prefix>model/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>"
                    + "<IsTruncated>false</IsTruncated><Contents><Key>"
                    + KEY
                    + "</Key>"
                    + "<LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"
                    + etag.replace("\"", "&quot;")
                    + "</ETag><Size>"
                    + CONTENT.length
                    + "</Size><StorageClass>STANDARD</StorageClass></Contents>"
                    + "</ListBucketResult>")
                .getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/xml");
        send(ex, 200, xml, false);
      } else if (path.equals("/" + BUCKET + "/" + KEY)) {
        boolean head = "HEAD".equals(ex.getRequestMethod());
        String range = ex.getRequestHeaders().getFirst("Range");
        Matcher m = range == null ? null : RANGE.matcher(range);
        if (m != null && m.matches()) {
          int from = Integer.parseInt(m.group(1));
          int to = Math.min(Integer.parseInt(m.group(2)), CONTENT.length - 1);
          ex.getResponseHeaders()
              .set("Content-Range", "bytes " + from + "-" + to + "/" + CONTENT.length);
          byte[] part = java.util.Arrays.copyOfRange(CONTENT, from, to + 1);
          send(ex, 206, part, head);
        } else {
          send(ex, 200, CONTENT, head);
        }
      } else {
        send(
            ex,
            404,
            "<Error><Code>NoSuchKey</Code></Error>".getBytes(StandardCharsets.UTF_8),
            false);
      }
    }
  }

  private static void send(HttpExchange ex, int code, byte[] body, boolean head)
      throws IOException {
    if (head) {
      ex.getResponseHeaders().set("Content-Length", Integer.toString(body.length));
      ex.sendResponseHeaders(code, -1);
      return;
    }
    ex.sendResponseHeaders(code, body.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(body);
    }
  }

  private static String md5(byte[] b) throws NoSuchAlgorithmException {
    return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(b));
  }
}

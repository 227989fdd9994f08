package dev.warmstart.fetch.source;

import static dev.warmstart.fetch.command.FetchModelSupport.assertError;
import static dev.warmstart.fetch.command.FetchModelSupport.assertFiles;
import static dev.warmstart.fetch.command.FetchModelSupport.assertNoTempFiles;
import static dev.warmstart.fetch.command.FetchModelSupport.assertSummary;
import static dev.warmstart.fetch.command.FetchModelSupport.command;
import static dev.warmstart.fetch.command.FetchModelSupport.files;
import static dev.warmstart.fetch.command.FetchModelSupport.randomBytes;
import static dev.warmstart.fetch.command.FetchModelSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.fetch.command.FetchModelCommand;
import dev.warmstart.fetch.command.FetchModelSupport;
import dev.warmstart.fetch.command.FetchModelSupport.Run;
import dev.warmstart.fetch.transfer.Downloader;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;
import org.jclouds.blobstore.domain.Blob;
import org.jclouds.blobstore.options.GetOptions;
import org.jclouds.blobstore.util.ForwardingBlobStore;
import org.jclouds.io.MutableContentMetadata;
import org.jclouds.io.Payload;
import org.jclouds.io.Payloads;
import org.jclouds.rest.AuthorizationException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * s3:// against a real S3 server in-process: s3proxy on loopback over jclouds' in-memory blob
 * store.
 */
class S3SourceTest {
  private static final String ACCESS_KEY = "warmstart-test";
  private static final String SECRET_KEY = "warmstart-test-secret";
  private static final String BUCKET = "models";
  private static final String[] AWS_PROPERTIES = {
    "aws.accessKeyId",
    "aws.secretAccessKey",
    "aws.sessionToken",
    "aws.region",
    "aws.disableEc2Metadata"
  };

  private static BlobStoreContext context;
  private static TestStore store;
  private static S3Proxy proxy;
  private static String endpoint;
  private static final Map<String, String> savedProperties = new HashMap<>();

  /** The model under s3://models/qwen/, by relative path. */
  private static final Map<String, byte[]> MODEL = new LinkedHashMap<>();

  @TempDir Path tmp;
  Path target;
  Path terminationLog;

  @BeforeAll
  static void startS3() throws Exception {
    context =
        ContextBuilder.newBuilder("transient")
            .credentials("unused", "unused")
            .build(BlobStoreContext.class);
    store = new TestStore(context.getBlobStore());
    proxy =
        S3Proxy.builder()
            .blobStore(store)
            .endpoint(URI.create("http://127.0.0.1:0"))
            .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
            .build();
    proxy.start();
    for (int i = 0; !"STARTED".equals(proxy.getState()); i++) {
      if (i > 500) {
        throw new IllegalStateException("s3proxy did not start: " + proxy.getState());
      }
      Thread.sleep(10);
    }
    endpoint = "http://127.0.0.1:" + proxy.getPort();

    MODEL.put(
        "config.json",
        "{\"architectures\":[\"Qwen3ForCausalLM\"]}".getBytes(StandardCharsets.UTF_8));
    MODEL.put("tokenizer/tokenizer.json", randomBytes(70_000, 1));
    MODEL.put("weights/shard 1/model-00001.safetensors", randomBytes(5 * 1024 * 1024 + 123, 2));
    MODEL.put("empty.txt", new byte[0]);
    BlobStore store = context.getBlobStore();
    store.createContainerInLocation(null, BUCKET);
    for (Map.Entry<String, byte[]> e : MODEL.entrySet()) {
      put("qwen/" + e.getKey(), e.getValue());
    }
    put("qwen/weights/", new byte[0]); // a "directory marker", as the S3 console creates
    put("qwen-other/not-this.bin", randomBytes(10, 3)); // shares the prefix "qwen" but not "qwen/"
    put("single/model.gguf", randomBytes(300_000, 4));
    put("evil/ok.txt", randomBytes(10, 5));
    put("evil/../../escaped.txt", randomBytes(10, 6));
    put("big/model.bin", BIG);
    put("corrupt/model.bin", randomBytes(3 * MIB + 1, 8));
  }

  private static final int MIB = 1 << 20;
  private static final byte[] BIG = randomBytes(6 * MIB + 5, 7);

  /**
   * The store behind s3proxy: counts GETs per key (those of whole 1 MiB parts; a share of a part
   * that another slot took over starts inside it and is not counted), corrupts what it serves under
   * "corrupt/" (one flipped byte per response, the ETag still the MD5 of the stored bytes), and can
   * refuse every GET after a few.
   */
  static final class TestStore extends ForwardingBlobStore {
    final Map<String, AtomicInteger> gets = new ConcurrentHashMap<>();
    final AtomicInteger served = new AtomicInteger();
    volatile int failAfter = -1;

    TestStore(BlobStore delegate) {
      super(delegate);
    }

    int gets(String key) {
      AtomicInteger n = gets.get(key);
      return n == null ? 0 : n.get();
    }

    @Override
    public Blob getBlob(String container, String name) {
      return getBlob(container, name, GetOptions.NONE);
    }

    @Override
    public Blob getBlob(String container, String name, GetOptions options) {
      boolean share =
          options.getRanges().stream()
              .anyMatch(r -> Long.parseLong(r.substring(0, r.indexOf('-'))) % MIB != 0);
      if (!share) {
        gets.computeIfAbsent(name, k -> new AtomicInteger()).incrementAndGet();
      }
      if (failAfter >= 0 && served.get() >= failAfter) {
        throw new AuthorizationException("test: no more");
      }
      Blob blob = super.getBlob(container, name, options);
      if (blob != null && name.startsWith("corrupt/")) {
        try (InputStream in = blob.getPayload().openStream()) {
          byte[] bytes = in.readAllBytes();
          bytes[0] ^= 1;
          MutableContentMetadata metadata = blob.getPayload().getContentMetadata();
          Payload corrupted = Payloads.newByteArrayPayload(bytes);
          corrupted.setContentMetadata(metadata);
          blob.setPayload(corrupted);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
      served.incrementAndGet();
      return blob;
    }
  }

  private static void put(String key, byte[] bytes) {
    BlobStore store = context.getBlobStore();
    store.putBlob(
        BUCKET, store.blobBuilder(key).payload(bytes).contentLength(bytes.length).build());
  }

  @AfterAll
  static void stopS3() throws Exception {
    if (proxy != null) {
      proxy.stop();
    }
    if (context != null) {
      context.close();
    }
  }

  /** Credentials and region for the SDK's default chains, through its system properties. */
  @BeforeEach
  void credentials() {
    for (String p : AWS_PROPERTIES) {
      savedProperties.put(p, System.getProperty(p));
    }
    System.setProperty("aws.accessKeyId", ACCESS_KEY);
    System.setProperty("aws.secretAccessKey", SECRET_KEY);
    System.setProperty("aws.region", "us-east-1");
    System.setProperty("aws.disableEc2Metadata", "true");
    target = tmp.resolve("models/qwen3-8b");
    terminationLog = tmp.resolve("termination-log");
  }

  @BeforeEach
  void resetStore() {
    store.gets.clear();
    store.served.set(0);
    store.failAfter = -1;
  }

  @AfterEach
  void restoreProperties() {
    savedProperties.forEach(
        (k, v) -> {
          if (v == null) {
            System.clearProperty(k);
          } else {
            System.setProperty(k, v);
          }
        });
  }

  private Run fetch(String uri) {
    return run(
        command(),
        "--uri",
        uri,
        "--to",
        target.toString(),
        "--s3-endpoint",
        endpoint,
        "--s3-path-style",
        "--termination-log",
        terminationLog.toString());
  }

  private static long size(Map<String, byte[]> files) {
    return files.values().stream().mapToLong(b -> b.length).sum();
  }

  @Test
  void fetchesEveryObjectUnderThePrefixWithItsRelativePath() throws IOException {
    Run run = fetch("s3://models/qwen/");

    assertEquals(0, run.exit(), run.all());
    assertFiles(MODEL, target);
    assertNoTempFiles(target);
    assertSummary(terminationLog, size(MODEL), MODEL.size(), "s3://models/qwen/");
    assertTrue(run.out().contains("done: 4 files"), run.out());
  }

  @Test
  void uriWithoutTrailingSlashNamingAPrefixFetchesTheObjectsUnderIt() throws IOException {
    Run run = fetch("s3://models/qwen");

    assertEquals(0, run.exit(), run.all());
    assertFiles(MODEL, target);
    assertSummary(terminationLog, size(MODEL), MODEL.size(), "s3://models/qwen");
  }

  @Test
  void uriNamingOneObjectFetchesThatObject() throws IOException {
    Run run = fetch("s3://models/single/model.gguf");

    assertEquals(0, run.exit(), run.all());
    assertFiles(Map.of("model.gguf", randomBytes(300_000, 4)), target);
    assertSummary(terminationLog, 300_000, 1, "s3://models/single/model.gguf");
  }

  @Test
  void replacesAnEarlierCopyAndLeftoversOfAKilledRun() throws IOException {
    Files.createDirectories(target.resolve("tokenizer"));
    Files.writeString(target.resolve("config.json"), "stale");
    Files.writeString(target.resolve("tokenizer/.tokenizer.json" + Downloader.TEMP_SUFFIX), "half");

    Run run = fetch("s3://models/qwen/");

    assertEquals(0, run.exit(), run.all());
    assertFiles(MODEL, target);
  }

  @Test
  void missingPrefixIsAClearErrorAndNonZeroExit() throws IOException {
    Run run = fetch("s3://models/no-such-model/");

    assertEquals(1, run.exit(), run.all());
    assertTrue(run.err().contains("no objects under s3://models/no-such-model/"), run.err());
    assertTrue(
        assertError(terminationLog).startsWith("no objects under s3://models/no-such-model/"));
    assertTrue(files(target).isEmpty());
  }

  @Test
  void missingBucketIsAClearError() throws IOException {
    Run run = fetch("s3://no-such-bucket/qwen/");

    assertEquals(1, run.exit(), run.all());
    assertTrue(
        assertError(terminationLog).startsWith("bucket 'no-such-bucket' not found"), run.err());
  }

  @Test
  void keyEscapingTheTargetDirectoryIsRejectedBeforeAnythingIsWritten() throws IOException {
    Run run = fetch("s3://models/evil/");

    assertEquals(1, run.exit(), run.all());
    String error = assertError(terminationLog);
    assertTrue(error.contains("refusing file '../../escaped.txt'"), error);
    assertTrue(
        files(tmp.resolve("models")).isEmpty(),
        "nothing written: " + files(tmp.resolve("models")).keySet());
    assertFalse(Files.exists(tmp.resolve("escaped.txt")));
  }

  @Test
  void wrongCredentialsAreAccessDenied() throws IOException {
    System.setProperty("aws.secretAccessKey", "not-the-secret");

    Run run = fetch("s3://models/qwen/");

    assertEquals(1, run.exit(), run.all());
    String error = assertError(terminationLog);
    assertTrue(error.startsWith("access denied to s3://models/qwen/"), error);
    assertTrue(error.contains("check the credentials secret or the pod's IAM role"), error);
    assertFalse(run.all().contains("not-the-secret"), "the secret is never printed");
  }

  @Test
  void withoutCredentialsFallsBackToAnonymousAccess() throws IOException {
    System.clearProperty("aws.accessKeyId");
    System.clearProperty("aws.secretAccessKey");
    boolean othersAround =
        System.getenv("AWS_ACCESS_KEY_ID") != null
            || System.getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != null
            || System.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != null
            || System.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != null
            || System.getenv("AWS_PROFILE") != null
            || Files.exists(Path.of(System.getProperty("user.home"), ".aws"));
    org.junit.jupiter.api.Assumptions.assumeFalse(
        othersAround, "AWS credentials in this environment");

    Run run = fetch("s3://models/qwen/");

    // s3proxy requires signed requests, so the anonymous request is refused, and says so.
    assertEquals(1, run.exit(), run.all());
    assertTrue(run.out().contains("reading the bucket anonymously"), run.out());
    String error = assertError(terminationLog);
    assertTrue(error.startsWith("access denied to s3://models/qwen/"), error);
    assertTrue(error.contains("the request was anonymous"), error);
  }

  @Test
  void unreachableEndpointSaysWhatToCheck() throws IOException {
    Run run =
        run(
            command(),
            "--uri",
            "s3://models/qwen/",
            "--to",
            target.toString(),
            "--s3-endpoint",
            "http://127.0.0.1:1",
            "--s3-path-style",
            "--termination-log",
            terminationLog.toString());

    assertEquals(1, run.exit(), run.all());
    String error = assertError(terminationLog);
    assertTrue(error.contains("cannot reach the S3 endpoint http://127.0.0.1:1"), error);
    assertTrue(error.contains("--s3-endpoint"), error);
  }

  @Test
  void endpointAndPathStyleComeFromTheEnvironment() throws IOException {
    FetchModelCommand command = command();
    FetchModelSupport.withEnv(
        command,
        Map.of(
            "MODEL_URI",
            "s3://models/single/model.gguf",
            "MODEL_PATH",
            target.toString(),
            "AWS_ENDPOINT_URL",
            endpoint,
            "AWS_S3_FORCE_PATH_STYLE",
            "true"));

    Run run = run(command, "--termination-log", terminationLog.toString());

    assertEquals(0, run.exit(), run.all());
    assertFiles(Map.of("model.gguf", randomBytes(300_000, 4)), target);
  }

  // ---- ranged, parallel downloads ----

  private Run fetch(String uri, String... options) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--uri",
                uri,
                "--to",
                target.toString(),
                "--s3-endpoint",
                endpoint,
                "--s3-path-style",
                "--termination-log",
                terminationLog.toString()));
    args.addAll(List.of(options));
    return run(command(), args.toArray(String[]::new));
  }

  @Test
  void partsFetchedInParallelMakeTheSameBytes() throws IOException {
    Run run = fetch("s3://models/qwen/", "--part-size", "1Mi", "--concurrency", "8");

    assertEquals(0, run.exit(), run.all());
    assertFiles(MODEL, target);
    assertNoTempFiles(target);
    assertSummary(terminationLog, size(MODEL), MODEL.size(), "s3://models/qwen/");
    assertEquals(
        6, store.gets("qwen/weights/shard 1/model-00001.safetensors"), "5 MiB + 123 B: 6 parts");
    assertEquals(1, store.gets("qwen/tokenizer/tokenizer.json"));
    assertEquals(0, store.gets("qwen/empty.txt"), "a 0-byte object needs no GET");
  }

  @Test
  void corruptObjectIsAnEtagMismatchAndLeavesNoFile() throws Exception {
    byte[] stored = randomBytes(3 * MIB + 1, 8);
    String md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(stored));

    Run run = fetch("s3://models/corrupt/", "--part-size", "1Mi");

    assertEquals(1, run.exit(), run.all());
    String error = assertError(terminationLog);
    assertTrue(
        error.startsWith(
            "'model.bin': md5 mismatch: the S3 ETag says " + md5 + ", the download has "),
        error);
    assertTrue(run.err().startsWith("fetch-model: error: 'model.bin': md5 mismatch"), run.err());
    assertTrue(
        files(target).isEmpty(), "no file, final, temporary or state: " + files(target).keySet());
  }

  @Test
  void restartedRunFetchesOnlyTheMissingParts() throws IOException {
    store.failAfter =
        3; // the store refuses every GET after 3 parts, as if the pod were killed there
    Run first = fetch("s3://models/big/", "--part-size", "1Mi", "--concurrency", "1");

    assertEquals(1, first.exit(), first.all());
    assertTrue(
        assertError(terminationLog).startsWith("access denied to s3://models/big/model.bin"),
        first.err());
    assertTrue(Files.exists(target.resolve(".model.bin.partial.state")));

    store.failAfter = -1;
    store.gets.clear();
    Run second = fetch("s3://models/big/", "--part-size", "1Mi");

    assertEquals(0, second.exit(), second.all());
    assertFiles(Map.of("model.bin", BIG), target);
    assertNoTempFiles(target);
    assertEquals(4, store.gets("big/model.bin"), "7 parts, 3 on disk already");
    assertSummary(terminationLog, BIG.length - 3L * MIB, 1, "s3://models/big/");
  }

  @Test
  void secondRunFindsTheModelInPlace() throws IOException {
    assertEquals(0, fetch("s3://models/qwen/").exit());
    store.gets.clear();

    Run again = fetch("s3://models/qwen/");

    assertEquals(0, again.exit(), again.all());
    assertFiles(MODEL, target);
    assertTrue(store.gets.isEmpty(), "only HEADs: " + store.gets);
    assertSummary(terminationLog, 0, MODEL.size(), "s3://models/qwen/");
    assertTrue(
        again
            .out()
            .contains("'weights/shard 1/model-00001.safetensors' is in place already (5.0 MiB)"),
        again.out());
  }
}

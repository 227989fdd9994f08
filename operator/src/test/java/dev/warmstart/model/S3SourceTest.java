package dev.warmstart.model;

import static dev.warmstart.model.FetchModelSupport.assertError;
import static dev.warmstart.model.FetchModelSupport.assertFiles;
import static dev.warmstart.model.FetchModelSupport.assertNoTempFiles;
import static dev.warmstart.model.FetchModelSupport.assertSummary;
import static dev.warmstart.model.FetchModelSupport.command;
import static dev.warmstart.model.FetchModelSupport.files;
import static dev.warmstart.model.FetchModelSupport.randomBytes;
import static dev.warmstart.model.FetchModelSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.model.FetchModelSupport.Run;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** s3:// against a real S3 server in-process: s3proxy on loopback over jclouds' in-memory blob store. */
class S3SourceTest {
    private static final String ACCESS_KEY = "warmstart-test";
    private static final String SECRET_KEY = "warmstart-test-secret";
    private static final String BUCKET = "models";
    private static final String[] AWS_PROPERTIES = {
        "aws.accessKeyId", "aws.secretAccessKey", "aws.sessionToken", "aws.region", "aws.disableEc2Metadata"};

    private static BlobStoreContext context;
    private static S3Proxy proxy;
    private static String endpoint;
    private static final Map<String, String> savedProperties = new HashMap<>();

    /** The model under s3://models/qwen/, by relative path. */
    private static final Map<String, byte[]> MODEL = new LinkedHashMap<>();

    @TempDir
    Path tmp;
    Path target;
    Path terminationLog;

    @BeforeAll
    static void startS3() throws Exception {
        context = ContextBuilder.newBuilder("transient")
                .credentials("unused", "unused")
                .build(BlobStoreContext.class);
        proxy = S3Proxy.builder()
                .blobStore(context.getBlobStore())
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

        MODEL.put("config.json", "{\"architectures\":[\"Qwen3ForCausalLM\"]}".getBytes(StandardCharsets.UTF_8));
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
    }

    private static void put(String key, byte[] bytes) {
        BlobStore store = context.getBlobStore();
        store.putBlob(BUCKET, store.blobBuilder(key).payload(bytes).contentLength(bytes.length).build());
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

    @AfterEach
    void restoreProperties() {
        savedProperties.forEach((k, v) -> {
            if (v == null) {
                System.clearProperty(k);
            } else {
                System.setProperty(k, v);
            }
        });
    }

    private Run fetch(String uri) {
        return run(command(), "--uri", uri, "--to", target.toString(), "--s3-endpoint", endpoint,
                "--s3-path-style", "--termination-log", terminationLog.toString());
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
        assertTrue(assertError(terminationLog).startsWith("no objects under s3://models/no-such-model/"));
        assertTrue(files(target).isEmpty());
    }

    @Test
    void missingBucketIsAClearError() throws IOException {
        Run run = fetch("s3://no-such-bucket/qwen/");

        assertEquals(1, run.exit(), run.all());
        assertTrue(assertError(terminationLog).startsWith("bucket 'no-such-bucket' not found"), run.err());
    }

    @Test
    void keyEscapingTheTargetDirectoryIsRejectedBeforeAnythingIsWritten() throws IOException {
        Run run = fetch("s3://models/evil/");

        assertEquals(1, run.exit(), run.all());
        String error = assertError(terminationLog);
        assertTrue(error.contains("refusing file '../../escaped.txt'"), error);
        assertTrue(files(tmp.resolve("models")).isEmpty(), "nothing written: " + files(tmp.resolve("models")).keySet());
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
        boolean othersAround = System.getenv("AWS_ACCESS_KEY_ID") != null
                || System.getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != null
                || System.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != null
                || System.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != null
                || System.getenv("AWS_PROFILE") != null
                || Files.exists(Path.of(System.getProperty("user.home"), ".aws"));
        org.junit.jupiter.api.Assumptions.assumeFalse(othersAround, "AWS credentials in this environment");

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
        Run run = run(command(), "--uri", "s3://models/qwen/", "--to", target.toString(),
                "--s3-endpoint", "http://127.0.0.1:1", "--s3-path-style", "--termination-log", terminationLog.toString());

        assertEquals(1, run.exit(), run.all());
        String error = assertError(terminationLog);
        assertTrue(error.contains("cannot reach the S3 endpoint http://127.0.0.1:1"), error);
        assertTrue(error.contains("--s3-endpoint"), error);
    }

    @Test
    void endpointAndPathStyleComeFromTheEnvironment() throws IOException {
        FetchModelCommand command = command();
        command.env = Map.of("MODEL_URI", "s3://models/single/model.gguf", "MODEL_PATH", target.toString(),
                "AWS_ENDPOINT_URL", endpoint, "AWS_S3_FORCE_PATH_STYLE", "true");

        Run run = run(command, "--termination-log", terminationLog.toString());

        assertEquals(0, run.exit(), run.all());
        assertFiles(Map.of("model.gguf", randomBytes(300_000, 4)), target);
    }
}

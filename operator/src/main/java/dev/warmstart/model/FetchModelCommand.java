package dev.warmstart.model;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code fetch-model}: the init container of each serving pod. Downloads the model weights into the
 * model volume and leaves a one-line JSON summary in its termination message for the operator's
 * cold-start accounting. Credentials come only from the environment and are never logged.
 */
@Command(
        name = "fetch-model",
        mixinStandardHelpOptions = true,
        description = {
            "Download model weights into a directory, each file written to a temporary name, fsynced, checked"
                + " (size, and SHA-256 where the Hub lists one) and renamed into place; then write"
                + " {\"bytes\":N,\"seconds\":S,\"files\":F,\"source\":\"...\",\"cacheHit\":false} (or {\"error\":\"...\"})"
                + " to the termination log.",
            "Sources: s3://bucket/prefix/ (all objects under it; s3://bucket/key for one object),"
                + " https://host/path/file, hf://org/model[@revision].",
            "Credentials, from the environment only: the AWS SDK's default chain (AWS_ACCESS_KEY_ID, IRSA,"
                + " EKS Pod Identity, instance role; anonymous if none), HF_TOKEN for the Hub."
        })
public final class FetchModelCommand implements Callable<Integer> {
    static final Path DEFAULT_TERMINATION_LOG = Path.of("/dev/termination-log");

    @Spec
    CommandSpec spec;

    @Option(names = "--uri", paramLabel = "URI",
            description = "Model to fetch: s3://bucket/prefix/, https://host/path/file or hf://org/model[@revision]."
                    + " Default: env MODEL_URI.")
    String uri;

    @Option(names = "--to", paramLabel = "DIR",
            description = "Directory to fetch into (created if missing). Default: env MODEL_PATH.")
    Path to;

    @Option(names = "--termination-log", paramLabel = "FILE", defaultValue = "/dev/termination-log",
            description = "Where to write the JSON summary. Default: ${DEFAULT-VALUE}.")
    Path terminationLog;

    @Option(names = "--s3-endpoint", paramLabel = "URL",
            description = "Endpoint of an S3-compatible store. Default: env AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL,"
                    + " else AWS S3.")
    String s3Endpoint;

    @Option(names = "--s3-path-style", paramLabel = "BOOL", arity = "0..1", fallbackValue = "true",
            description = "Address buckets as ENDPOINT/bucket rather than bucket.ENDPOINT (most S3-compatible"
                    + " stores need this). Default: env AWS_S3_FORCE_PATH_STYLE, else false.")
    Boolean s3PathStyle;

    @Option(names = "--hf-endpoint", paramLabel = "URL",
            description = "Hugging Face Hub endpoint or mirror. Default: env HF_ENDPOINT, else "
                    + HubSource.DEFAULT_ENDPOINT + ".")
    String hfEndpoint;

    /** The environment; tests replace it. */
    Map<String, String> env = System.getenv();
    /** The client for https:// and hf://; tests inject one that trusts their certificate. */
    HttpClient httpClient;
    /** Retry, progress and stall timings; tests shorten them. */
    Downloader.Settings settings = Downloader.Settings.defaults();

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Log log = new Log(out);
        Path termination = terminationLog;
        if (DEFAULT_TERMINATION_LOG.equals(termination) && !Files.exists(termination)) {
            termination = null; // not in a pod: do not create a file under /dev
        }
        try {
            String source = firstNonBlank(uri, env.get("MODEL_URI"));
            if (source == null) {
                throw FetchException.fatal("no model URI: set --uri or MODEL_URI");
            }
            Path target = to != null ? to : pathOrNull(env.get("MODEL_PATH"));
            if (target == null) {
                throw FetchException.fatal("no target directory: set --to or MODEL_PATH");
            }
            try (ModelSource model = open(source.strip(), log)) {
                log.info("fetching %s into %s", model.displayUri(), target);
                Downloader.Result result = new Downloader(target, log, settings).fetch(model);
                String json = TerminationLog.success(result.bytes(), result.elapsed(), result.files(),
                        model.displayUri());
                TerminationLog.write(termination, json, log);
                log.info("%s", json);
                return 0;
            }
        } catch (IOException | RuntimeException e) {
            String message = e instanceof FetchException ? e.getMessage() : Downloader.describe(e);
            PrintWriter err = spec.commandLine().getErr();
            err.println("fetch-model: error: " + message);
            err.flush();
            TerminationLog.write(termination, TerminationLog.failure(message), log);
            return 1;
        }
    }

    /** The source for {@code uri}, by scheme. */
    ModelSource open(String uri, Log log) throws FetchException {
        String lower = uri.toLowerCase(Locale.ROOT);
        if (lower.startsWith("s3://")) {
            String endpoint = firstNonBlank(s3Endpoint, env.get("AWS_ENDPOINT_URL_S3"), env.get("AWS_ENDPOINT_URL"));
            boolean pathStyle = s3PathStyle != null ? s3PathStyle : parseBoolean(env.get("AWS_S3_FORCE_PATH_STYLE"));
            return new S3Source("s3://" + uri.substring(5), endpoint, pathStyle, log);
        }
        if (lower.startsWith("https://") || lower.startsWith("http://")) {
            return new HttpSource(uri, http());
        }
        if (lower.startsWith("hf://")) {
            return new HubSource("hf://" + uri.substring(5), firstNonBlank(hfEndpoint, env.get("HF_ENDPOINT")),
                    env.get("HF_TOKEN"), http(), log);
        }
        int colon = uri.indexOf(':');
        String scheme = colon > 0 && colon < 20 ? "'" + TargetPaths.printable(uri.substring(0, colon)) + "'" : "missing";
        throw FetchException.fatal("unsupported model URI (scheme " + scheme
                + "): use s3://bucket/prefix/, https://host/path/file or hf://org/model[@revision]");
    }

    private Http http() {
        return new Http(httpClient != null ? httpClient : Http.defaultClient());
    }

    private static String firstNonBlank(String... values) {
        for (String v : values) {
            if (v != null && !v.isBlank()) {
                return v;
            }
        }
        return null;
    }

    private static Path pathOrNull(String s) {
        return s == null || s.isBlank() ? null : Path.of(s.strip());
    }

    static boolean parseBoolean(String s) {
        if (s == null) {
            return false;
        }
        String v = s.strip().toLowerCase(Locale.ROOT);
        return v.equals("true") || v.equals("1") || v.equals("yes");
    }
}

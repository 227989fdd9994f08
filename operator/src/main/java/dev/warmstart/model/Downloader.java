package dev.warmstart.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Writes the files of a {@link ModelSource} under a target directory, one at a time, each one safely:
 * streamed with a fixed-size buffer into a hidden temporary file in its final directory, fsynced, checked
 * against the listed size (or else the announced length) and the listed SHA-256, then renamed atomically
 * to its final name. A failed attempt deletes the temporary file, so a final name only ever holds a
 * complete, checked file. Network failures, 5xx and 429 are retried with exponential backoff; a transfer
 * that receives nothing for {@link Settings#stallTimeout()} is aborted and retried.
 *
 * <p>This is the simple, sequential version. Parallel ranged requests, resume and a node-local cache
 * come later: they fit behind {@link ModelSource#open} (ranges) and {@link #fetchFile} (resume).
 */
final class Downloader {

    /**
     * @param attempts         tries per file (and for the listing)
     * @param backoff          wait after the first failed try; doubles after each further one
     * @param progressInterval how often to log a progress line
     * @param stallTimeout     abort a transfer that receives no byte for this long
     */
    record Settings(int attempts, Duration backoff, Duration progressInterval, Duration stallTimeout) {
        static Settings defaults() {
            return new Settings(3, Duration.ofSeconds(1), Duration.ofSeconds(5), Duration.ofSeconds(60));
        }
    }

    /** What was fetched: bytes and files written, and the time taken including the listing. */
    record Result(long bytes, int files, Duration elapsed) {
    }

    static final String TEMP_SUFFIX = ".partial";
    private static final int BUFFER_SIZE = 1 << 20;

    private final Path root;
    private final Log log;
    private final Settings settings;

    Downloader(Path root, Log log, Settings settings) {
        this.root = root.toAbsolutePath().normalize();
        this.log = log;
        this.settings = settings;
    }

    Result fetch(ModelSource source) throws IOException {
        long start = System.nanoTime();
        List<RemoteFile> files = withRetries("listing " + source.displayUri(), source::list);
        List<Path> targets = plan(files);
        long known = files.stream().filter(RemoteFile::sizeKnown).mapToLong(RemoteFile::size).sum();
        long unknown = files.stream().filter(f -> !f.sizeKnown()).count();
        log.info("%d file(s), %s", files.size(), unknown == 0 ? Progress.bytes(known)
                : unknown == files.size() ? "size not listed" : Progress.bytes(known) + " + " + unknown + " of unknown size");
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new FetchException("cannot create the target directory " + root + ": " + describe(e)
                    + ": check the model volume's mount and permissions", false, e);
        }

        Progress progress = new Progress(log, files);
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "fetch-model-timer");
            t.setDaemon(true);
            return t;
        });
        long interval = settings.progressInterval().toMillis();
        timer.scheduleAtFixedRate(progress::report, interval, interval, TimeUnit.MILLISECONDS);
        try {
            long bytes = 0;
            for (int i = 0; i < files.size(); i++) {
                RemoteFile file = files.get(i);
                Path target = targets.get(i);
                bytes += withRetries("downloading '" + TargetPaths.printable(file.path()) + "'",
                        () -> fetchFile(source, file, target, progress, timer));
                progress.fileDone();
            }
            progress.finish();
            return new Result(bytes, files.size(), Duration.ofNanos(System.nanoTime() - start));
        } finally {
            timer.shutdownNow();
        }
    }

    /** The final path of each file, checked before any byte is written. */
    private List<Path> plan(List<RemoteFile> files) throws FetchException {
        if (files.isEmpty()) {
            throw FetchException.fatal("the listing is empty");
        }
        List<Path> targets = new ArrayList<>(files.size());
        Set<Path> seen = new HashSet<>();
        for (RemoteFile f : files) {
            Path p = TargetPaths.resolve(root, f.path());
            if (!seen.add(p)) {
                throw FetchException.fatal("the listing has '" + TargetPaths.printable(f.path()) + "' twice");
            }
            targets.add(p);
        }
        return targets;
    }

    /** One attempt at one file; returns its size. */
    private long fetchFile(ModelSource source, RemoteFile file, Path target, Progress progress,
            ScheduledExecutorService timer) throws IOException {
        Path dir = target.getParent();
        Path temp = dir.resolve("." + target.getFileName() + TEMP_SUFFIX);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw localFailure(file, dir, e);
        }
        long written = 0;
        boolean done = false;
        try (ModelSource.Body body = source.open(file);
             FileChannel out = openTemp(file, temp)) {
            long expected = file.sizeKnown() ? file.size() : body.length();
            if (!file.sizeKnown() && expected >= 0) {
                progress.sizeLearned(file.path(), expected);
            }
            MessageDigest sha256 = file.sha256() != null ? sha256() : null;
            StallGuard guard = new StallGuard(body);
            var check = timer.scheduleWithFixedDelay(guard::check, 1, 1, TimeUnit.SECONDS);
            try {
                byte[] buffer = new byte[BUFFER_SIZE];
                ByteBuffer wrapped = ByteBuffer.wrap(buffer);
                InputStream in = body.stream();
                while (true) {
                    int n;
                    try {
                        n = in.read(buffer);
                    } catch (IOException e) {
                        if (e instanceof FetchException) {
                            throw e;
                        }
                        String at = "'" + TargetPaths.printable(file.path()) + "': the transfer broke after " + written
                                + (expected >= 0 ? " of " + expected : "") + " bytes: ";
                        throw new IOException(at + (guard.stalled ? "no data received for "
                                + seconds(settings.stallTimeout()) : describe(e)), e);
                    }
                    if (n < 0) {
                        break;
                    }
                    guard.lastData = System.nanoTime();
                    wrapped.clear().limit(n);
                    try {
                        while (wrapped.hasRemaining()) {
                            out.write(wrapped);
                        }
                    } catch (IOException e) {
                        throw localFailure(file, temp, e);
                    }
                    if (sha256 != null) {
                        sha256.update(buffer, 0, n);
                    }
                    written += n;
                    progress.add(n);
                    if (expected >= 0 && written > expected) {
                        throw FetchException.fatal("'" + TargetPaths.printable(file.path())
                                + "': received more than the " + expected
                                + " bytes expected; did the file change during the download? Run again.");
                    }
                }
            } finally {
                check.cancel(false);
            }
            if (guard.stalled) { // the aborted stream may have ended as if complete
                throw new IOException("'" + TargetPaths.printable(file.path()) + "': no data received for "
                        + seconds(settings.stallTimeout()) + "; aborted the transfer");
            }
            if (expected >= 0 && written != expected) {
                throw new IOException("'" + TargetPaths.printable(file.path()) + "': got " + written + " of "
                        + expected + " bytes; the connection ended early");
            }
            if (sha256 != null) {
                String actual = HexFormat.of().formatHex(sha256.digest());
                if (!actual.equalsIgnoreCase(file.sha256())) {
                    throw FetchException.fatal("'" + TargetPaths.printable(file.path())
                            + "': sha256 mismatch: the listing says " + file.sha256() + ", the download has "
                            + actual);
                }
            }
            try {
                out.force(true);
            } catch (IOException e) {
                throw localFailure(file, temp, e);
            }
        } catch (IOException | RuntimeException e) {
            progress.discard(written);
            deleteQuietly(temp);
            throw e;
        }
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            done = true;
        } catch (IOException e) {
            throw localFailure(file, target, e);
        } finally {
            if (!done) {
                progress.discard(written);
                deleteQuietly(temp);
            }
        }
        fsyncDirectory(dir);
        return written;
    }

    private FileChannel openTemp(RemoteFile file, Path temp) throws FetchException {
        try {
            return FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw localFailure(file, temp, e);
        }
    }

    /** Runs {@code call} up to {@link Settings#attempts()} times while it fails in a retryable way. */
    <T> T withRetries(String what, IoCall<T> call) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                return call.call();
            } catch (IOException e) {
                if (e instanceof InterruptedIOException || !FetchException.isRetryable(e)) {
                    throw e;
                }
                if (attempt >= settings.attempts()) {
                    throw new FetchException(what + " failed " + attempt + " times; last error: " + describe(e),
                            false, e);
                }
                long base = settings.backoff().toMillis() << (attempt - 1);
                long wait = base + ThreadLocalRandom.current().nextLong(base / 4 + 1);
                log.info("%s: attempt %d of %d failed: %s; retrying in %.1f s", what, attempt, settings.attempts(),
                        describe(e), wait / 1000.0);
                try {
                    Thread.sleep(wait);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while waiting to retry " + what);
                }
            }
        }
    }

    @FunctionalInterface
    interface IoCall<T> {
        T call() throws IOException;
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() / 1000.0 + " s";
    }

    static String describe(Throwable e) {
        if (e instanceof FetchException) {
            return e.getMessage();
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m + " (" + e.getClass().getSimpleName() + ")";
    }

    private FetchException localFailure(RemoteFile file, Path path, IOException e) {
        return new FetchException("cannot write '" + TargetPaths.printable(file.path()) + "' at " + path + ": "
                + describe(e) + ": check the free space and permissions of the model volume", false, e);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Makes the rename durable (a no-op where directories cannot be opened for sync). */
    private static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // best effort
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // the next attempt truncates it; its hidden name never shadows a final file
        }
    }

    /** Aborts a transfer that receives nothing for the stall timeout by closing its stream. */
    private final class StallGuard {
        private final ModelSource.Body body;
        volatile long lastData = System.nanoTime();
        volatile boolean stalled;

        StallGuard(ModelSource.Body body) {
            this.body = body;
        }

        void check() {
            if (!stalled && System.nanoTime() - lastData > settings.stallTimeout().toNanos()) {
                stalled = true;
                // Some streams (HttpURLConnection's) lock close() against a blocked read: close elsewhere.
                Thread t = new Thread(() -> {
                    try {
                        body.close();
                    } catch (IOException | RuntimeException ignored) {
                        // the reader fails either way
                    }
                }, "fetch-model-abort");
                t.setDaemon(true);
                t.start();
            }
        }
    }
}

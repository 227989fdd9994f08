package dev.warmstart.fetch.transfer;

import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.Log;
import dev.warmstart.fetch.TargetPaths;
import dev.warmstart.fetch.source.ModelSource;
import dev.warmstart.fetch.source.RemoteFile;
import dev.warmstart.fetch.verify.FileChecksum;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * One file of the model, from "is it there already?" to its final name. Runs on a coordinating
 * thread; everything that talks to the network runs in a {@link TransferPool} slot: the first
 * request (which learns the size and whether ranges work, and already carries the first part), then
 * the parts.
 */
final class FileFetch {
  private final ModelSource source;
  private final RemoteFile file;
  private final Path target;
  private final TempFile temp;
  private final FetchSettings settings;
  private final Log log;
  private final Progress progress;
  private final TransferPool pool;
  private final Retries retries;
  private final String name;

  FileFetch(
      ModelSource source,
      RemoteFile file,
      Path target,
      FetchSettings settings,
      Log log,
      Progress progress,
      TransferPool pool,
      Retries retries) {
    this.source = source;
    this.file = file;
    this.target = target;
    this.temp = new TempFile(file.path(), target);
    this.settings = settings;
    this.log = log;
    this.progress = progress;
    this.pool = pool;
    this.retries = retries;
    this.name = "'" + TargetPaths.printable(file.path()) + "'";
  }

  /** What the first request found. */
  private sealed interface Opened {}

  /** The file is already in place. */
  private record InPlace(long size) implements Opened {}

  /** Streamed whole (no ranges) and checked; the channel is open for placing. */
  private record Streamed(FileChannel channel) implements Opened {}

  /**
   * A ranged download under way: its first part (if any) is done, the rest is the coordinator's.
   */
  private record Parts(RangedDownload download, ModelSource.Ranged ranged) implements Opened {}

  /** Fetches the file into place. */
  void run() throws IOException {
    if (file.sizeKnown()
        && file.sha256() != null
        && Files.isRegularFile(target)
        && inPlace(
            file.size(),
            List.of(
                FileChecksum.hex(FileChecksum.Algorithm.SHA256, file.sha256(), "the listing")))) {
      log.info("%s is in place already (%s)", name, Progress.bytes(file.size()));
      progress.reused(file.size()); // a size and a SHA-256 from the listing: no request needed
      temp.delete();
      return;
    }
    ResumeState saved = ResumeState.load(temp.path(), settings.partSize());
    boolean present = Files.isRegularFile(target);
    // Completed as soon as the first request has told the size: the coordinator then queues the
    // other
    // parts while that request's slot goes on reading the first part.
    CompletableFuture<Opened> early = new CompletableFuture<>();
    pool.submit(() -> open(present, saved, early))
        .whenComplete(
            (opened, e) -> {
              if (e != null) {
                early.completeExceptionally(e);
              } else {
                early.complete(opened);
              }
            });
    Opened opened = await(early);
    if (opened instanceof InPlace in) {
      progress.reused(in.size());
      temp.delete();
      return;
    }
    FileChannel channel;
    if (opened instanceof Streamed s) {
      channel = s.channel();
    } else {
      Parts parts = (Parts) opened;
      try {
        parts.download().finish();
      } catch (IOException | RuntimeException e) {
        parts.download().abandon();
        throw e;
      } finally {
        closeQuietly(parts.ranged());
      }
      channel = parts.download().channel();
    }
    try {
      temp.place(channel);
    } catch (IOException e) {
      temp.delete();
      throw e;
    }
  }

  /**
   * In a transfer slot: checks a file in place, else opens the file and fetches its first part, or
   * all of it. A ranged download is handed to the coordinator through {@code early} before its
   * first part is read, so that the other parts are in flight meanwhile (else every file would
   * start on one connection).
   */
  private Opened open(boolean present, ResumeState saved, CompletableFuture<Opened> early)
      throws IOException {
    String what = "downloading " + name;
    if (present) {
      long size;
      List<FileChecksum> checks;
      try (ModelSource.Access look = retries.call(what, () -> source.access(file, 0, 0))) {
        size = size(look);
        checks = checksums(look);
      }
      if (inPlace(size, checks)) {
        log.info("%s is in place already (%s)", name, Progress.bytes(size));
        return new InPlace(size);
      }
      log.info("%s is in place but differs from the source; fetching it again", name);
    }
    // The first request asks for the first part still missing (or just looks, if none is).
    long offset = 0;
    long length =
        file.sizeKnown() ? Math.min(settings.partSize(), file.size()) : settings.partSize();
    if (saved != null) {
      int missing = saved.firstMissing();
      offset = missing >= 0 ? saved.plan().offset(missing) : 0;
      length = missing >= 0 ? saved.plan().length(missing) : 0;
    }
    long firstOffset = offset;
    long firstLength = length;
    ModelSource.Access access =
        retries.call(what, () -> source.access(file, firstOffset, firstLength));
    if (access instanceof ModelSource.Whole whole) {
      if (saved != null) {
        temp.delete();
      }
      List<FileChecksum> checks = checksums(access);
      StreamDownload stream =
          new StreamDownload(
              source,
              file,
              temp,
              FileChecksum.preferred(checks).orElse(null),
              progress,
              pool,
              retries);
      return new Streamed(stream.run(whole.body()));
    }
    ModelSource.Ranged ranged = (ModelSource.Ranged) access;
    RangedDownload download = null;
    try {
      download = start(ranged, saved);
    } catch (IOException | RuntimeException e) {
      closeQuietly(ranged);
      throw e;
    }
    int first = download.missingPartAt(firstOffset);
    Parts parts = new Parts(download, ranged);
    if (first < 0) {
      return parts;
    }
    // From here the download is the coordinator's (it abandons it on failure); the first part's
    // outcome
    // reaches it through the part's future.
    download.runningElsewhere(first);
    early.complete(parts);
    download.fetchPart(first);
    return parts;
  }

  /**
   * Sets up the temporary file: the previous run's if the file is unchanged at the source, else a
   * new one.
   */
  private RangedDownload start(ModelSource.Ranged ranged, ResumeState saved) throws IOException {
    long size = ranged.size();
    if (file.sizeKnown() && size != file.size()) {
      throw FetchException.fatal(
          name
              + ": the listing says "
              + file.size()
              + " bytes, the server now has "
              + size
              + "; did the model change during the download? Run again.");
    }
    if (!file.sizeKnown()) {
      progress.sizeLearned(file.path(), size);
    }
    String identity =
        ranged.version() != null
            ? ranged.version()
            : file.sha256() != null ? "sha256:" + file.sha256() : null;
    ResumeState state;
    FileChannel channel;
    if (saved != null && saved.matches(size, identity)) {
      state = saved;
      channel = temp.reopen();
      log.info(
          "%s: resuming: %d of %d parts (%s) are on disk from an earlier run",
          name, saved.doneCount(), saved.plan().count(), Progress.bytes(saved.doneBytes()));
      progress.reused(saved.doneBytes());
    } else {
      if (saved != null) {
        log.info(
            "%s: changed at the source since the earlier, partial download; starting it over",
            name);
      }
      state = ResumeState.fresh(temp.path(), size, settings.partSize(), identity);
      channel = temp.create(size);
    }
    List<FileChecksum> checks = checksums(ranged);
    return new RangedDownload(
        file,
        ranged,
        temp,
        channel,
        state,
        FileChecksum.preferred(checks).orElse(null),
        progress,
        pool,
        retries);
  }

  /** The checksums the listing and the source state for the file. */
  private List<FileChecksum> checksums(ModelSource.Access access) {
    List<FileChecksum> checks = new ArrayList<>();
    if (file.sha256() != null) {
      checks.add(FileChecksum.hex(FileChecksum.Algorithm.SHA256, file.sha256(), "the listing"));
    }
    if (access instanceof ModelSource.Ranged r) {
      checks.addAll(r.checksums());
    }
    return checks;
  }

  private long size(ModelSource.Access access) {
    if (access instanceof ModelSource.Ranged r) {
      return r.size();
    }
    return file.sizeKnown() ? file.size() : ((ModelSource.Whole) access).body().length();
  }

  /**
   * Whether the file under the final name has {@code size} and (when there is one) the checksum.
   */
  private boolean inPlace(long size, List<FileChecksum> checks) throws IOException {
    if (size < 0 || Files.size(target) != size) {
      return false;
    }
    FileChecksum check = FileChecksum.preferred(checks).orElse(null);
    if (check == null) {
      return true;
    }
    FileChecksum.Hasher hasher = check.algorithm().start();
    byte[] buffer = new byte[RangedDownload.BUFFER_SIZE];
    ByteBuffer b = ByteBuffer.wrap(buffer);
    try (FileChannel ch = FileChannel.open(target, StandardOpenOption.READ)) {
      for (int n; (n = ch.read(b.clear())) > 0; ) {
        hasher.update(buffer, 0, n);
      }
    }
    return check.matches(hasher.result());
  }

  private static void closeQuietly(ModelSource.Access access) {
    try {
      access.close();
    } catch (IOException ignored) {
      // only an unused response is left to release
    }
  }

  private static <T> T await(CompletableFuture<T> f) throws IOException {
    try {
      return f.get();
    } catch (ExecutionException e) {
      throw Failures.unwrap(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted");
    }
  }
}

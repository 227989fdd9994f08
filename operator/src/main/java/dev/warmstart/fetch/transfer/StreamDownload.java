package dev.warmstart.fetch.transfer;

import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.TargetPaths;
import dev.warmstart.fetch.source.ModelSource;
import dev.warmstart.fetch.source.RemoteFile;
import dev.warmstart.fetch.verify.FileChecksum;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.time.Duration;

/**
 * A file fetched as one stream from its first byte: the fallback when its size is unknown or the
 * server ignores Range. Written in order through one small buffer, hashed on the way, checked
 * against the expected size; a failed try starts the file over (there is nothing to resume without
 * ranges).
 */
final class StreamDownload {
  private static final int BUFFER_SIZE = 256 * 1024;

  private final ModelSource source;
  private final RemoteFile file;
  private final TempFile temp;
  private final FileChecksum check;
  private final Progress progress;
  private final TransferPool pool;
  private final Retries retries;

  StreamDownload(
      ModelSource source,
      RemoteFile file,
      TempFile temp,
      FileChecksum check,
      Progress progress,
      TransferPool pool,
      Retries retries) {
    this.source = source;
    this.file = file;
    this.temp = temp;
    this.check = check;
    this.progress = progress;
    this.pool = pool;
    this.retries = retries;
  }

  /**
   * Streams the file into the temporary file, the first try from {@code first}, later ones from a
   * new {@link ModelSource#open}; returns the checked file's channel, still open, for {@link
   * TempFile#place}.
   */
  FileChannel run(ModelSource.Body first) throws IOException {
    ModelSource.Body[] next = {first};
    try {
      return retries.call(
          "downloading '" + TargetPaths.printable(file.path()) + "'",
          () -> {
            ModelSource.Body body = next[0] != null ? next[0] : source.open(file);
            next[0] = null;
            return attempt(body);
          });
    } finally {
      if (next[0] != null) {
        next[0].close();
      }
    }
  }

  private FileChannel attempt(ModelSource.Body opened) throws IOException {
    String name = "'" + TargetPaths.printable(file.path()) + "'";
    long written = 0;
    FileChannel out = null;
    try (ModelSource.Body body = opened;
        TransferPool.Watch watch = pool.watch(body)) {
      pool.checkNotAborted();
      long expected = file.sizeKnown() ? file.size() : body.length();
      if (!file.sizeKnown() && expected >= 0) {
        progress.sizeLearned(file.path(), expected);
      }
      out = temp.create(0);
      FileChecksum.Hasher hasher = check == null ? null : check.algorithm().start();
      byte[] buffer = new byte[BUFFER_SIZE];
      ByteBuffer wrapped = ByteBuffer.wrap(buffer);
      InputStream in = body.stream();
      while (true) {
        int n;
        try {
          n = in.read(buffer);
        } catch (IOException e) {
          pool.checkNotAborted();
          if (e instanceof FetchException) {
            throw e;
          }
          throw new IOException(
              name
                  + ": the transfer broke after "
                  + written
                  + (expected >= 0 ? " of " + expected : "")
                  + " bytes: "
                  + (watch.stalled()
                      ? "no data received for " + seconds(pool.stallTimeout())
                      : Failures.describe(e)),
              e);
        }
        if (n < 0) {
          break;
        }
        watch.dataArrived();
        wrapped.clear().limit(n);
        try {
          while (wrapped.hasRemaining()) {
            out.write(wrapped);
          }
        } catch (IOException e) {
          throw TempFile.failure(file.path(), temp.path(), e);
        }
        if (hasher != null) {
          hasher.update(buffer, 0, n);
        }
        written += n;
        progress.add(n);
        if (expected >= 0 && written > expected) {
          throw FetchException.fatal(
              name
                  + ": received more than the "
                  + expected
                  + " bytes expected; did the file change during the download? Run again.");
        }
      }
      pool.checkNotAborted();
      if (watch.stalled()) { // the aborted stream may have ended as if complete
        throw new IOException(
            name
                + ": no data received for "
                + seconds(pool.stallTimeout())
                + "; aborted the transfer");
      }
      if (expected >= 0 && written != expected) {
        throw new IOException(
            name + ": got " + written + " of " + expected + " bytes; the connection ended early");
      }
      if (hasher != null) {
        byte[] actual = hasher.result();
        if (!check.matches(actual)) {
          throw check.mismatch(file.path(), actual);
        }
      }
      return out;
    } catch (IOException | RuntimeException e) {
      progress.discard(written);
      if (out != null) {
        try {
          out.close();
        } catch (IOException ignored) {
          // the file is deleted next
        }
      }
      temp.delete();
      throw e;
    }
  }

  static String seconds(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() / 1000.0 + " s";
  }
}

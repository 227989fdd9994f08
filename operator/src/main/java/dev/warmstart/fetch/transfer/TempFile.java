package dev.warmstart.fetch.transfer;

import dev.warmstart.fetch.Failures;
import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.TargetPaths;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Where a file is written before it is complete: {@code .name.partial} in its final directory
 * (hidden, and without the final name's extension, so no server picks it up), with the resume state
 * beside it. The final name only ever appears through {@link #place}: fsync, atomic rename, fsync
 * of the directory.
 */
final class TempFile {
  static final String SUFFIX = ".partial";

  private final String name;
  private final Path target;
  private final Path path;

  TempFile(String name, Path target) {
    this.name = name;
    this.target = target;
    this.path = pathFor(target);
  }

  static Path pathFor(Path target) {
    return target.resolveSibling("." + target.getFileName() + SUFFIX);
  }

  Path path() {
    return path;
  }

  /** A new, empty temporary file extended (sparsely) to {@code size}, replacing any leftover. */
  FileChannel create(long size) throws FetchException {
    prepareDirectory();
    try {
      Files.deleteIfExists(ResumeState.pathFor(path));
      // TRUNCATE_EXISTING rather than truncate(): a leftover is emptied without a second system
      // call.
      FileChannel ch =
          FileChannel.open(
              path,
              StandardOpenOption.CREATE,
              StandardOpenOption.TRUNCATE_EXISTING,
              StandardOpenOption.READ,
              StandardOpenOption.WRITE);
      try {
        if (size > 0) {
          ch.write(
              ByteBuffer.allocate(1),
              size - 1); // the right size from the start; the last part overwrites it
        }
      } catch (IOException e) {
        ch.close();
        throw e;
      }
      return ch;
    } catch (IOException e) {
      throw failure(name, path, e);
    }
  }

  /** The temporary file a previous run left, to fill in its missing parts. */
  FileChannel reopen() throws FetchException {
    try {
      return FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw failure(name, path, e);
    }
  }

  void prepareDirectory() throws FetchException {
    try {
      Files.createDirectories(target.getParent());
    } catch (IOException e) {
      throw failure(name, target.getParent(), e);
    }
  }

  /** Makes the complete, checked file durable and gives it its final name; closes {@code ch}. */
  void place(FileChannel ch) throws FetchException {
    try (ch) {
      ch.force(true);
    } catch (IOException e) {
      throw failure(name, path, e);
    }
    try {
      Files.move(path, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw failure(name, target, e);
    }
    fsyncDirectory(target.getParent());
    try {
      Files.deleteIfExists(ResumeState.pathFor(path));
    } catch (IOException ignored) {
      // a state without its temporary file is ignored
    }
  }

  /** Removes the temporary file and its resume state. */
  void delete() {
    for (Path p : new Path[] {path, ResumeState.pathFor(path)}) {
      try {
        Files.deleteIfExists(p);
      } catch (IOException ignored) {
        // its hidden name never shadows a final file; the next run replaces it
      }
    }
  }

  /**
   * A local failure as one line: a full volume said as such, anything else with where to look.
   * Never retryable: another try writes to the same disk.
   */
  static FetchException failure(String name, Path path, IOException e) {
    String m = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
    if (m.contains("no space left on device") || m.contains("disk quota exceeded")) {
      return new FetchException(
          "cannot write '"
              + TargetPaths.printable(name)
              + "' at "
              + path
              + ": the model volume is full ("
              + e.getMessage()
              + "): give it more space than the model's size",
          false,
          e);
    }
    return new FetchException(
        "cannot write '"
            + TargetPaths.printable(name)
            + "' at "
            + path
            + ": "
            + Failures.describe(e)
            + ": check the free space and permissions of the model volume",
        false,
        e);
  }

  /** Makes the rename durable (a no-op where directories cannot be opened for sync). */
  private static void fsyncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException ignored) {
      // best effort
    }
  }
}

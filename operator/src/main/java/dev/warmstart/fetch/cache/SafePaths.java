package dev.warmstart.fetch.cache;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Relative paths from listings and manifests, kept inside their directory; and small file helpers.
 */
public final class SafePaths {
  private SafePaths() {}

  /**
   * A non-empty '/'-separated relative path without empty, "." or ".." segments, NUL or backslash.
   */
  static boolean valid(String relative) {
    if (relative == null
        || relative.isEmpty()
        || relative.startsWith("/")
        || relative.indexOf('\0') >= 0
        || relative.indexOf('\\') >= 0) {
      return false;
    }
    for (String segment : relative.split("/", -1)) {
      if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
        return false;
      }
    }
    return true;
  }

  /** {@code relative} under {@code root}, or an exception if it would leave it. */
  static Path resolve(Path root, String relative) throws IOException {
    if (!valid(relative)) {
      throw new IOException("unsafe path in the cache: " + printable(relative));
    }
    Path base = root.toAbsolutePath().normalize();
    try {
      Path resolved = base.resolve(relative).normalize();
      if (resolved.startsWith(base) && !resolved.equals(base)) {
        return resolved;
      }
    } catch (InvalidPathException e) {
      // below
    }
    throw new IOException("unsafe path in the cache: " + printable(relative));
  }

  static String printable(String s) {
    String p = s == null ? "null" : s.replaceAll("\\p{Cntrl}", "?");
    return p.length() > 200 ? p.substring(0, 200) + "..." : p;
  }

  /** Bytes in the regular files under {@code dir}; files that vanish meanwhile count as nothing. */
  static long size(Path dir) {
    long[] total = {0};
    try {
      Files.walkFileTree(
          dir,
          new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
              if (attrs.isRegularFile()) {
                total[0] += attrs.size();
              }
              return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) {
              return FileVisitResult.CONTINUE;
            }
          });
    } catch (IOException ignored) {
      // counted what could be read
    }
    return total[0];
  }

  /** Deletes {@code dir} and everything under it; what is already gone is fine. */
  public static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Files.walkFileTree(
        dir,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
              throws IOException {
            Files.deleteIfExists(file);
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
            if (exc instanceof NoSuchFileException) {
              return FileVisitResult.CONTINUE;
            }
            throw exc;
          }

          @Override
          public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
            if (exc != null && !(exc instanceof NoSuchFileException)) {
              throw exc;
            }
            Files.deleteIfExists(d);
            return FileVisitResult.CONTINUE;
          }
        });
  }

  /** Makes renames in {@code dir} durable; best effort where directories cannot be synced. */
  static void fsyncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException ignored) {
      // best effort
    }
  }
}

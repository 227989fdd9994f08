package dev.warmstart.fetch.source;

import java.util.Objects;

/**
 * One file of a model as its {@link ModelSource} lists it.
 *
 * @param path where the file goes, relative to the target directory, with '/' separators; checked
 *     by {@link TargetPaths#resolve} before anything is written
 * @param size its size in bytes, or -1 when the listing does not say
 * @param sha256 its SHA-256 as lowercase hex when the listing gives one (the Hub does for LFS
 *     files), else null
 * @param ref where the source finds it: an S3 key, a URL
 */
public record RemoteFile(String path, long size, String sha256, String ref) {
  public static final long UNKNOWN_SIZE = -1;

  public RemoteFile {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(ref, "ref");
  }

  public boolean sizeKnown() {
    return size >= 0;
  }
}

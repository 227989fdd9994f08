package dev.warmstart.fetch.cache;

import dev.warmstart.kube.HelperContract;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The serving pods' model directories inside the node cache: {@code DIR/pods/<namespace>/<pod
 * uid>}, hard links to a cache entry's files, mounted read-only into the pod's server (a subPath of
 * the cache's hostPath). Being on the cache's mount is what makes the links possible: a second
 * replica on the node gets its weights by linking, in well under a second, instead of copying
 * gigabytes. The links also keep a model's data alive for a running pod after the cache evicts the
 * entry.
 *
 * <p>The kubelet never deletes what a pod left in a hostPath, so each fetch clears the directories
 * of pods that are gone, asking the operator which pods live on the node ({@link LivePods}). A
 * directory is removed only when the operator watches its namespace, knows no pod of its UID, and
 * it is older than a grace period (a pod just created may not be in the operator's view yet).
 */
public final class PodDirectories {
  /** Kubernetes UIDs and namespace names: nothing else is ever a pod directory here. */
  private static final Pattern UID =
      Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

  private static final Pattern NAMESPACE = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
  static final Duration GRACE = Duration.ofMinutes(2);

  /**
   * What the operator knows of the node's pods.
   *
   * @param namespaces the namespaces it watches; empty: all of them
   * @param uids the UIDs of its pods on the node
   */
  public record LivePods(Set<String> namespaces, Set<String> uids) {
    boolean covers(String namespace) {
      return namespaces.isEmpty() || namespaces.contains(namespace);
    }
  }

  private final Path root;
  private final CacheLog log;

  /**
   * @param cacheDir the node cache's directory (the hostPath as mounted)
   */
  public PodDirectories(Path cacheDir, CacheLog log) {
    this.root = cacheDir.toAbsolutePath().normalize().resolve(HelperContract.CACHE_POD_DIRECTORIES);
    this.log = log;
  }

  /**
   * Whether {@code target} is a pod directory of this cache (the layout the operator gives serving
   * pods).
   */
  public boolean contains(Path target) {
    Path t = target.toAbsolutePath().normalize();
    return t.getNameCount() == root.getNameCount() + 2 && t.startsWith(root);
  }

  /**
   * Removes the directories of pods that are gone, never {@code keep}; returns how many. Never
   * throws: this is housekeeping, and a directory left behind only costs space until the next
   * fetch.
   */
  public int collect(LivePods live, Path keep, Instant now) {
    Path kept = keep == null ? null : keep.toAbsolutePath().normalize();
    int removed = 0;
    try (DirectoryStream<Path> namespaces = Files.newDirectoryStream(root)) {
      for (Path ns : namespaces) {
        String namespace = ns.getFileName().toString();
        if (!NAMESPACE.matcher(namespace).matches()
            || !live.covers(namespace)
            || !Files.isDirectory(ns, LinkOption.NOFOLLOW_LINKS)) {
          continue;
        }
        try (DirectoryStream<Path> pods = Files.newDirectoryStream(ns)) {
          for (Path pod : pods) {
            String uid = pod.getFileName().toString();
            if (!UID.matcher(uid).matches()
                || live.uids().contains(uid)
                || pod.equals(kept)
                || !Files.isDirectory(pod, LinkOption.NOFOLLOW_LINKS)
                || !olderThan(pod, now.minus(GRACE))) {
              continue;
            }
            try {
              SafePaths.deleteTree(pod);
              removed++;
            } catch (IOException e) {
              log.info(
                  "node cache: cannot remove %s of a pod that is gone: %s", pod, e.getMessage());
            }
          }
        }
      }
    } catch (java.nio.file.NoSuchFileException e) {
      return 0;
    } catch (IOException | RuntimeException e) {
      log.info(
          "node cache: cannot clear the directories of pods that are gone: %s", e.getMessage());
    }
    if (removed > 0) {
      log.info("node cache: removed the model directories of %d pod(s) that are gone", removed);
    }
    return removed;
  }

  private static boolean olderThan(Path p, Instant limit) {
    try {
      return Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toInstant().isBefore(limit);
    } catch (IOException e) {
      return false;
    }
  }
}

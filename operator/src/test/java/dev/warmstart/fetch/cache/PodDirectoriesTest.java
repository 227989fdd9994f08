package dev.warmstart.fetch.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PodDirectoriesTest {
  static final String LIVE = "11111111-1111-1111-1111-111111111111";
  static final String GONE = "22222222-2222-2222-2222-222222222222";
  static final String NEW = "33333333-3333-3333-3333-333333333333";
  static final Instant NOW = Instant.parse("2026-11-27T12:00:00Z");

  @TempDir Path cache;
  final List<String> log = new ArrayList<>();

  private Path podDir(String namespace, String uid, Duration age) throws IOException {
    Path dir = Files.createDirectories(cache.resolve("pods").resolve(namespace).resolve(uid));
    Files.writeString(dir.resolve("config.json"), "{}");
    Files.setLastModifiedTime(dir, FileTime.from(NOW.minus(age)));
    return dir;
  }

  private PodDirectories dirs() {
    return new PodDirectories(cache, (f, a) -> log.add(String.format(f, a)));
  }

  @Test
  void directoriesOfPodsThatAreGoneAreRemovedAndNoOthers() throws IOException {
    Path live = podDir("ml", LIVE, Duration.ofHours(3));
    Path gone = podDir("ml", GONE, Duration.ofHours(3));
    Path young = podDir("ml", NEW, Duration.ofSeconds(30));
    Path current = podDir("ml", "44444444-4444-4444-4444-444444444444", Duration.ofHours(1));
    Path notAPod = Files.createDirectories(cache.resolve("pods/ml/lost+found"));
    Files.setLastModifiedTime(notAPod, FileTime.from(NOW.minus(Duration.ofDays(1))));

    int removed = dirs().collect(new PodDirectories.LivePods(Set.of(), Set.of(LIVE)), current, NOW);

    assertEquals(1, removed);
    assertFalse(Files.exists(gone), "gone for hours");
    assertTrue(Files.exists(live.resolve("config.json")), "its pod lives");
    assertTrue(Files.exists(young), "too young: its pod may not be in the operator's view yet");
    assertTrue(Files.exists(current), "the fetch's own target");
    assertTrue(Files.exists(notAPod), "not named like a pod UID");
    assertTrue(log.get(0).contains("1 pod(s)"), log.toString());
  }

  @Test
  void namespacesTheOperatorDoesNotWatchAreLeftAlone() throws IOException {
    Path other = podDir("team-b", GONE, Duration.ofHours(3));
    Path mine = podDir("team-a", GONE.replace('2', '5'), Duration.ofHours(3));

    dirs().collect(new PodDirectories.LivePods(Set.of("team-a"), Set.of()), null, NOW);

    assertTrue(Files.exists(other), "another operator's namespace: it may live");
    assertFalse(Files.exists(mine));
  }

  @Test
  void aCacheWithoutPodDirectoriesIsFine() {
    assertEquals(0, dirs().collect(new PodDirectories.LivePods(Set.of(), Set.of()), null, NOW));
    assertEquals(List.of(), log);
  }

  @Test
  void onlyDirectoriesTwoLevelsUnderPodsArePodDirectories() {
    PodDirectories dirs = dirs();
    assertTrue(dirs.contains(cache.resolve("pods/ml/" + LIVE)));
    assertFalse(dirs.contains(cache.resolve("pods/ml")));
    assertFalse(dirs.contains(cache.resolve("elsewhere/ml/" + LIVE)));
    assertFalse(dirs.contains(cache.resolve("pods/ml/" + LIVE + "/sub")));
  }
}

package dev.warmstart.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Requests map to the permission the API server's RBAC authorizer checks. */
class ApiCallsTest {
  private static String permission(String method, String path, String query) {
    return ApiCalls.permission(method, path, query).map(Object::toString).orElse("none");
  }

  @Test
  void namespacedAndClusterWideCollections() {
    assertEquals("list core/pods", permission("GET", "/api/v1/pods", "labelSelector=a%3Db"));
    assertEquals(
        "watch core/pods",
        permission("GET", "/api/v1/namespaces/ml/pods", "watch=true&resourceVersion=1"));
    assertEquals(
        "list apps/daemonsets", permission("GET", "/apis/apps/v1/namespaces/ml/daemonsets", null));
    assertEquals(
        "deletecollection core/pods", permission("DELETE", "/api/v1/namespaces/ml/pods", null));
  }

  @Test
  void namedObjectsAndSubresources() {
    assertEquals("get core/secrets", permission("GET", "/api/v1/namespaces/ml/secrets/pull", null));
    assertEquals(
        "patch warmstart.dev/imagecaches/status",
        permission(
            "PATCH",
            "/apis/warmstart.dev/v1alpha1/namespaces/ml/imagecaches/c/status",
            "fieldManager=x"));
    assertEquals(
        "update coordination.k8s.io/leases",
        permission(
            "PUT", "/apis/coordination.k8s.io/v1/namespaces/ws/leases/warmstart-operator", null));
    assertEquals(
        "create events.k8s.io/events",
        permission("POST", "/apis/events.k8s.io/v1/namespaces/ml/events", null));
    assertEquals(
        "delete warmstart.dev/imagecaches",
        permission("DELETE", "/apis/warmstart.dev/v1alpha1/namespaces/ml/imagecaches/c", null));
  }

  @Test
  void namespacesThemselvesAndNonResourceUrls() {
    assertEquals("get core/namespaces", permission("GET", "/api/v1/namespaces/ml", null));
    assertEquals("list core/namespaces", permission("GET", "/api/v1/namespaces", null));
    assertEquals(
        "get core/namespaces/status", permission("GET", "/api/v1/namespaces/ml/status", null));
    assertEquals("none", permission("GET", "/version", null));
    assertEquals("none", permission("GET", "/apis/apps/v1", null));
    assertEquals(Optional.empty(), ApiCalls.permission("GET", "/api/v1", null));
  }
}

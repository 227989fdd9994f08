package dev.warmstart.e2e;

import io.fabric8.kubernetes.client.http.AsyncBody;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.HttpResponse;
import io.fabric8.kubernetes.client.http.Interceptor;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListSet;

/**
 * Records the Kubernetes API calls a client makes as RBAC permissions (verb, API group, resource),
 * the way the API server's authorizer sees them, and any call the server refused (401/403).
 */
final class ApiCalls implements Interceptor {
  /** One RBAC permission: {@code verb group/resource}, the resource with its subresource. */
  record Permission(String verb, String group, String resource) implements Comparable<Permission> {
    @Override
    public int compareTo(Permission o) {
      return toString().compareTo(o.toString());
    }

    @Override
    public String toString() {
      return verb + " " + (group.isEmpty() ? "core" : group) + "/" + resource;
    }
  }

  private final Set<Permission> used = new ConcurrentSkipListSet<>();
  private final Set<String> refused = new ConcurrentSkipListSet<>();

  SortedSet<Permission> used() {
    return new TreeSet<>(used);
  }

  SortedSet<String> refused() {
    return new TreeSet<>(refused);
  }

  @Override
  public void before(
      io.fabric8.kubernetes.client.http.BasicBuilder builder,
      HttpRequest request,
      RequestTags tags) {
    permission(request.method(), request.uri().getRawPath(), request.uri().getRawQuery())
        .ifPresent(used::add);
  }

  @Override
  public void after(
      HttpRequest request,
      HttpResponse<?> response,
      AsyncBody.Consumer<List<ByteBuffer>> consumer) {
    // A server-side apply that creates the object is authorized as create as well as patch.
    if (request.method().equals("PATCH") && response.code() == 201) {
      permission(request.method(), request.uri().getRawPath(), request.uri().getRawQuery())
          .map(p -> new Permission("create", p.group(), p.resource()))
          .ifPresent(used::add);
    }
    if (response.code() == 401 || response.code() == 403) {
      refused.add(request.method() + " " + request.uri().getRawPath() + " -> " + response.code());
    }
  }

  /** The permission a request needs; empty for non-resource URLs such as /version and discovery. */
  static Optional<Permission> permission(String method, String path, String query) {
    List<String> parts = List.of(path.replaceAll("^/+|/+$", "").split("/"));
    String group;
    List<String> rest;
    if (parts.size() >= 3 && parts.get(0).equals("api")) {
      group = "";
      rest = parts.subList(2, parts.size());
    } else if (parts.size() >= 4 && parts.get(0).equals("apis")) {
      group = parts.get(1);
      rest = parts.subList(3, parts.size());
    } else {
      return Optional.empty();
    }
    // As the API server's RequestInfoFactory: namespaces/{ns}/{resource}... unless it is a
    // namespace's own subresource (namespaces/{name}/status or /finalize).
    if (rest.size() >= 3
        && rest.get(0).equals("namespaces")
        && !Set.of("status", "finalize").contains(rest.get(2))) {
      rest = rest.subList(2, rest.size());
    }
    String resource = rest.get(0);
    boolean named = rest.size() >= 2;
    if (rest.size() >= 3) {
      resource += "/" + rest.get(2);
    }
    boolean watch =
        query != null
            && List.of(query.split("&")).stream()
                .anyMatch(p -> p.equals("watch=true") || p.equals("watch=1"));
    String verb =
        switch (method) {
          case "GET" -> watch ? "watch" : named ? "get" : "list";
          case "POST" -> "create";
          case "PUT" -> "update";
          case "PATCH" -> "patch";
          case "DELETE" -> named ? "delete" : "deletecollection";
          default -> method.toLowerCase(java.util.Locale.ROOT);
        };
    return Optional.of(new Permission(verb, group, resource));
  }
}

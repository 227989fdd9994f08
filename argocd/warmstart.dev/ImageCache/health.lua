-- Argo CD health of a warmstart ImageCache (Lua 5.1, as Argo CD's gopher-lua), from its conditions.
-- Degraded: the Degraded condition is True (pull failures, a missing pull secret, an invalid spec).
-- Healthy: Ready is True, or no node matches the selector (a pool scaled to zero has nothing to cache).
-- Progressing: anything else, including a spec the operator has not observed yet.
local hs = {status = "Progressing", message = "Waiting for the operator to report status"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < generation then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end
local ready, degraded
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Degraded" then degraded = c end
end
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = (degraded.reason or "Degraded") .. ": " .. (degraded.message or "")
  return hs
end
if ready ~= nil and (ready.status == "True" or ready.reason == "NoMatchingNodes") then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
if ready ~= nil then
  hs.message = (ready.reason or "NotReady") .. ": " .. (ready.message or "")
end
return hs

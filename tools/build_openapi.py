# Writes Sources/PalisadeServer/Resources/openapi.json, the API contract (edit here, then run: python3 tools/build_openapi.py).
# OpenAPIDocumentTests checks that every route is documented and every documented route served.
import json
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def body(schema): return {"required": True, "content": {"application/json": {"schema": schema}}}
def resp(desc, schema=None):
    r = {"description": desc}
    if schema is not None: r["content"] = {"application/json": {"schema": schema}}
    return r
ERR = {"400": resp("Invalid request", ref("Error")), "401": resp("Missing or unknown token", ref("Error")), "404": resp("Not found (or another tenant's object)", ref("Error")), "413": resp("Body too large", ref("Error"))}
def errs(*codes): return {c: ERR[c] for c in codes}
idp = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
revp = {"name": "revision", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
enrollment_state = {"type": "string", "enum": ["enrolled", "pendingReenrollment", "stale", "outOfScope", "managedElsewhere", "retired"]}
devp = {"name": "deviceId", "in": "path", "required": True, "schema": {"type": "string"}}
paging = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
          {"name": "cursor", "in": "query", "schema": {"type": "string"}}]
# The state of a policy or setting on a device (SettingState).
state = {"type": "string", "enum": ["succeeded", "error", "conflict", "pending", "notApplicable"]}
text_filter = {"type": "string", "minLength": 1, "maxLength": 200}
formatp = {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["csv", "json"]}, "description": "Download every matching row (Content-Disposition: attachment); Accept: text/csv does the same as csv"}
def export_resp(desc, schema, export_schema):
    return {"description": desc, "content": {"application/json": {"schema": {"anyOf": [schema, export_schema]}}, "text/csv": {"schema": {"type": "string"}}},
            "headers": {"Content-Disposition": {"schema": {"type": "string"}, "description": "attachment; filename=... on downloads"}}}
def listof(name, item):
    return {"type": "object", "required": [name], "properties": {name: {"type": "array", "items": ref(item)}, "nextCursor": {"type": "string", "description": "Pass as ?cursor= for the next page; absent on the last page."}}}
dev_sec = [{"deviceAssertion": []}]
str_ = {"type": "string"}
dt = {"type": "string", "format": "date-time"}
role = {"type": "string", "enum": ["administrator", "endpointSecurityManager", "readOnlyOperator", "helpDeskOperator"]}
paths = {
 "/api/v1/health": {"get": {"operationId": "health", "summary": "Liveness", "security": [], "responses": {"200": resp("Up", {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}})}}},
 "/api/v1/ready": {"get": {"operationId": "ready", "summary": "Readiness: the process answers and reaches its database (refused within about a second when it is unreachable; a database that accepts connections but does not answer is given 10 s)", "security": [], "responses": {"200": resp("Ready", {"type": "object", "required": ["status", "database"], "properties": {"status": {"type": "string", "enum": ["ready"]}, "database": {"type": "string", "enum": ["sqlite", "postgresql"]}}}), "503": resp("The database is unreachable (code database_unavailable; the message names the database; Retry-After says when to ask again)", ref("Error"))}}},
 "/api/v1/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": [], "responses": {"200": resp("The OpenAPI document", {"type": "object"})}}},
 "/api/v1/enrollment-tokens": {
   "post": {"operationId": "createEnrollmentToken", "summary": "Create an enrollment token (the secret is shown once)", "requestBody": body(ref("EnrollmentTokenRequest")), "responses": {"201": resp("Created", ref("CreatedEnrollmentToken")), **errs("400", "401", "413")}},
   "get": {"operationId": "listEnrollmentTokens", "summary": "List enrollment tokens (without secrets)", "parameters": paging, "responses": {"200": resp("Tokens", listof("enrollmentTokens", "EnrollmentToken")), **errs("400", "401")}}},
 "/api/v1/enrollment-tokens/{id}": {"delete": {"operationId": "revokeEnrollmentToken", "summary": "Revoke an enrollment token", "parameters": [idp], "responses": {"204": resp("Revoked"), **errs("401", "404")}}},
 "/api/v1/onboarding-packages": {"post": {"operationId": "createOnboardingPackage", "summary": "An onboarding package for one platform: server URL, the CA to pin with its SHA-256, an enrollment token (created now from name/expiresInHours/maxUses, or an existing one given by id and secret) and the install commands; the answer is the package file (it holds the secret: Cache-Control no-store)",
   "requestBody": body(ref("OnboardingPackageRequest")),
   "responses": {"201": resp("A package with a newly created enrollment token", ref("OnboardingPackage")), "200": resp("A package with the existing enrollment token given", ref("OnboardingPackage")), **errs("400", "401", "413")}}},
 "/api/v1/devices": {"get": {"operationId": "listDevices", "summary": "List devices by id, filtered: name contains (search, case-insensitive), platform, overall report state, tag (admin or agent tag, whole, case-insensitive), group (member directly or through nested groups)", "parameters": paging + [
     {"name": "search", "in": "query", "schema": text_filter}, {"name": "platform", "in": "query", "schema": {"type": "string", "enum": ["linux", "macos", "windows", "windowsServer"]}},
     {"name": "state", "in": "query", "schema": state}, {"name": "tag", "in": "query", "schema": text_filter}, {"name": "group", "in": "query", "schema": text_filter, "description": "A group id; an unknown one answers 400"}], "responses": {"200": resp("Devices", listof("devices", "Device")), **errs("400", "401")}}},
 "/api/v1/devices/{id}": {
   "get": {"operationId": "getDevice", "summary": "Get a device", "parameters": [idp], "responses": {"200": resp("The device", ref("Device")), **errs("401", "404")}},
   "patch": {"operationId": "updateDevice", "summary": "Set the admin tags of a device (agent-reported tags are kept apart); dynamic memberships follow at once", "parameters": [idp], "requestBody": body({"type": "object", "properties": {"tags": {"type": ["array", "null"], "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"}}}}), "responses": {"200": resp("The device", ref("Device")), **errs("400", "401", "404", "413")}},
   "delete": {"operationId": "retireDevice", "summary": "Retire a device: its agent is refused from then on; memberships are kept", "parameters": [idp], "responses": {"204": resp("Retired"), **errs("401", "404")}}},
 "/api/v1/devices/{id}/approve-reenrollment": {"post": {"operationId": "approveReenrollment", "summary": "Let the key of a pending re-enrollment replace the device's key (the old agent is refused from then on)", "parameters": [idp], "responses": {"200": resp("The device", ref("Device")), "409": resp("Nothing is pending", ref("Error")), **errs("401", "404")}}},
 "/api/v1/devices/{id}/effective": {"get": {"operationId": "deviceEffectiveConfiguration", "summary": "Provenance: every delivered setting with its policies and groups, every conflict with its competing values", "parameters": [idp], "responses": {"200": resp("Provenance", ref("DeviceProvenance")), **errs("401", "404")}}},
 "/api/v1/devices/{id}/settings": {"get": {"operationId": "deviceSettings", "summary": "Every managed setting of a device with value, state and provenance", "parameters": [idp], "responses": {"200": resp("Settings", {"type": "array", "items": ref("SettingStatus")}), **errs("401", "404")}}},
 "/api/v1/groups": {
   "post": {"operationId": "createGroup", "summary": "Create a static group", "requestBody": body(ref("GroupRequest")), "responses": {"201": resp("Created", ref("Group")), "409": resp("Name taken", ref("Error")), **errs("400", "401", "413")}},
   "get": {"operationId": "listGroups", "summary": "List groups", "parameters": paging, "responses": {"200": resp("Groups", listof("groups", "Group")), **errs("400", "401")}}},
 "/api/v1/groups/preview": {"post": {"operationId": "previewGroup", "summary": "How many devices a membership rule selects, with a sample; nothing is saved", "requestBody": body({"type": "object", "required": ["membershipRule"], "properties": {"membershipRule": {"type": "string"}}}),
   "responses": {"200": resp("Preview", {"type": "object", "required": ["count", "sample"], "properties": {"count": {"type": "integer"}, "sample": {"type": "array", "items": ref("Device")}}}), **errs("400", "401", "413")}}},
 "/api/v1/groups/{id}": {
   "get": {"operationId": "getGroup", "summary": "Get a group", "parameters": [idp], "responses": {"200": resp("The group", ref("Group")), **errs("401", "404")}},
   "put": {"operationId": "updateGroup", "summary": "Rename a group, change its description, or change a dynamic group's rule (re-evaluates that group only)", "parameters": [idp],
     "requestBody": body({"type": "object", "properties": {"name": {"type": ["string", "null"], "minLength": 1, "maxLength": 200, "pattern": "\\S"}, "description": {"type": ["string", "null"]}, "membershipRule": {"type": ["string", "null"]}}}),
     "responses": {"200": resp("The group", ref("Group")), "409": resp("Name taken", ref("Error")), **errs("400", "401", "404", "413")}},
   "delete": {"operationId": "deleteGroup", "summary": "Delete a group; its members lose what it brought them", "parameters": [idp], "responses": {"204": resp("Deleted"), **errs("401", "404")}}},
 "/api/v1/groups/{id}/members": {
   "get": {"operationId": "listMembers", "summary": "List a group's own members by id: the devices a static group lists, or those a dynamic group's rule selects now (devices of nested groups are not listed)", "parameters": [idp] + paging, "responses": {"200": resp("Members", listof("devices", "Device")), **errs("400", "401", "404")}},
   "post": {"operationId": "addMembers", "summary": "Add devices to a static group", "parameters": [idp], "requestBody": body(ref("AddMembersRequest")), "responses": {"200": resp("The group", ref("Group")), **errs("400", "401", "404", "413")}}},
 "/api/v1/groups/{id}/members/{deviceId}": {"delete": {"operationId": "removeMember", "summary": "Remove a device, or a nested group, from a static group", "parameters": [idp, devp], "responses": {"204": resp("Removed"), **errs("401", "404")}}},
 "/api/v1/settings/enforcement": {
   "get": {"operationId": "getEnforcement", "summary": "The tenant's enforcement scope", "responses": {"200": resp("Scope", ref("Enforcement")), **errs("401")}},
   "put": {"operationId": "putEnforcement", "summary": "Set the enforcement scope; every device is recomputed (out of scope: empty configuration, and the device record says why)", "requestBody": body(ref("Enforcement")), "responses": {"200": resp("Scope", ref("Enforcement")), **errs("400", "401", "413")}}},
 "/api/v1/settings/devices": {
   "get": {"operationId": "getDeviceSettings", "summary": "Tenant device settings", "responses": {"200": resp("Settings", ref("DeviceSettings")), **errs("401")}},
   "put": {"operationId": "putDeviceSettings", "summary": "Set after how many days without check-in a device is flagged stale (never removed)", "requestBody": body(ref("DeviceSettings")), "responses": {"200": resp("Settings", ref("DeviceSettings")), **errs("400", "401", "413")}}},
 "/api/v1/policies": {
   "post": {"operationId": "createPolicy", "summary": "Create a policy (revision 1)", "requestBody": body(ref("PolicyRequest")), "responses": {"201": resp("Created", ref("Policy")), **errs("400", "401", "413")}},
   "get": {"operationId": "listPolicies", "summary": "List policies", "parameters": paging, "responses": {"200": resp("Policies", listof("policies", "Policy")), **errs("400", "401")}}},
 "/api/v1/policies/{id}": {
   "get": {"operationId": "getPolicy", "summary": "Get a policy", "parameters": [idp], "responses": {"200": resp("The policy", ref("Policy")), **errs("401", "404")}},
   "put": {"operationId": "updatePolicy", "summary": "Replace name, description and settings as a new revision (platform and template are fixed)", "parameters": [idp], "requestBody": body(ref("PolicyRequest")), "responses": {"200": resp("The policy at its new revision", ref("Policy")), **errs("400", "401", "404", "413")}},
   "delete": {"operationId": "deletePolicy", "summary": "Delete a policy; its settings leave every device", "parameters": [idp], "responses": {"204": resp("Deleted"), **errs("401", "404")}}},
 "/api/v1/policies/{id}/assignments": {"put": {"operationId": "setAssignments", "summary": "Replace the include and exclude groups (exclude wins)", "parameters": [idp], "requestBody": body(ref("Assignments")), "responses": {"200": resp("The policy", ref("Policy")), **errs("400", "401", "404", "413")}}},
 "/api/v1/policies/{id}/report": {"get": {"operationId": "policyReport", "summary": "Per-device state of a policy: the summary counts every targeted device, the devices (filtered by state and name) come one page at a time by name; ?format=csv|json or Accept: text/csv downloads every matching device",
   "parameters": [idp, *paging, {"name": "state", "in": "query", "schema": state}, {"name": "search", "in": "query", "schema": text_filter, "description": "Device name contains (case-insensitive)"}, formatp],
   "responses": {"200": export_resp("The report (JSON export: every matching device)", ref("PolicyReport"), {"type": "array", "items": ref("PolicyReportDevice")}), **errs("400", "401", "404")}}},
 "/api/v1/policies/{id}/settings-report": {"get": {"operationId": "policySettingsReport", "summary": "For each setting of the policy, how many targeted devices are in each state; with settingId (and optionally state), the devices where that setting is in that state, one page at a time by name; ?format=csv|json downloads all",
   "parameters": [idp, *paging, {"name": "settingId", "in": "query", "schema": text_filter}, {"name": "state", "in": "query", "schema": state, "description": "Only with settingId"}, formatp],
   "responses": {"200": export_resp("Counts per setting, or the devices of one setting", {"anyOf": [ref("PolicySettingsReport"), ref("PolicySettingDevices")]},
                                     {"anyOf": [{"type": "array", "items": ref("SettingCounts")}, {"type": "array", "items": ref("PolicyReportDevice")}]}), **errs("400", "401", "404")}}},
 "/api/v1/devices/{id}/history": {"get": {"operationId": "deviceHistory", "summary": "When each policy or setting changed state on the device, on which revision and why, newest first; ?format=csv|json downloads all",
   "parameters": [idp, *paging, formatp], "responses": {"200": export_resp("Events", listof("events", "DeviceHistoryEvent"), {"type": "array", "items": ref("DeviceHistoryEvent")}), **errs("400", "401", "404")}}},
 "/api/v1/reports/overview": {"get": {"operationId": "tenantOverview", "summary": "Devices by platform and by state, policies by state, devices in error or conflict (limit: how many to list, default 20)",
   "parameters": [paging[0]], "responses": {"200": resp("Overview", ref("TenantOverview")), **errs("400", "401")}}},
 "/api/v1/policies/{id}/revisions": {"get": {"operationId": "listPolicyRevisions", "summary": "A policy's revisions, newest first: number, name, time, who made it (when the audit log knows), setting count; the revisions of a deleted policy stay readable", "parameters": [idp, paging[0], {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}, "description": "The nextCursor of the previous page (a revision number)"}], "responses": {"200": resp("Revisions", listof("revisions", "PolicyRevisionSummary")), **errs("400", "401", "404")}}},
 "/api/v1/policies/{id}/revisions/{revision}": {"get": {"operationId": "getPolicyRevision", "summary": "One revision in full: name, description, settings", "parameters": [idp, revp], "responses": {"200": resp("The revision", ref("PolicyRevision")), "404": resp("No such policy, or the policy has no such revision (the message names it)", ref("Error")), **errs("400", "401")}}},
 "/api/v1/policies/{id}/revisions/{revision}/diff": {"get": {"operationId": "diffPolicyRevisions", "summary": "What changed from revision `against` (default: the revision before) to this revision: settings added, removed and changed with old and new values, name and description changes", "parameters": [idp, revp, {"name": "against", "in": "query", "schema": {"type": "integer", "minimum": 1}, "description": "The revision to compare with; required for revision 1"}],
   "responses": {"200": resp("The differences", ref("PolicyRevisionDiff")), "404": resp("No such policy, or no such revision (the message names it)", ref("Error")), **errs("400", "401")}}},
 "/api/v1/policies/{id}/rollback": {"post": {"operationId": "rollbackPolicy", "summary": "Make a new revision equal to an earlier one (name, description, settings), through the update path: devices are recomputed and woken, the change is audited (policy.rollback). Preview it first with POST .../rollback/preview", "parameters": [idp], "requestBody": body(ref("RollbackRequest")),
   "responses": {"200": resp("The policy at its new revision", ref("Policy")), "400": resp("Invalid request, or today's catalog refuses settings of that revision (the message and details name them)", ref("Error")), "404": resp("No such policy, or no such revision (the message names it)", ref("Error")), **errs("401", "413")}}},
 "/api/v1/policies/{id}/rollback/preview": {"post": {"operationId": "previewPolicyRollback", "summary": "What a rollback to that revision would do to devices, without saving anything (the same answer as POST /policies/{id}/preview)", "parameters": [idp], "requestBody": body(ref("RollbackRequest")),
   "responses": {"200": resp("Impact", ref("ImpactPreview")), "400": resp("Invalid request, or today's catalog refuses settings of that revision", ref("Error")), "404": resp("No such policy, or no such revision", ref("Error")), **errs("401", "413")}}},
 "/api/v1/devices/{id}/sync": {"post": {"operationId": "syncDevice", "summary": "Sync now: wake the device's long-poll (on any replica) so it checks in, re-applies and reports at once; an offline device does so on its next check-in (the request stays until it reports). Audited (device.sync)", "parameters": [idp], "responses": {"202": resp("Asked (0 devices for a retired device)", ref("SyncRequest")), **errs("401", "404")}}},
 "/api/v1/groups/{id}/sync": {"post": {"operationId": "syncGroup", "summary": "Sync now for every device of the group (listed, selected by its rule, or in a nested group; not retired ones). One audit event (group.sync) names the group and how many devices", "parameters": [idp], "responses": {"202": resp("Asked", ref("SyncRequest")), **errs("401", "404")}}},
 "/api/v1/reports/enrollment": {"get": {"operationId": "enrollmentReport", "summary": "Every device with its enrollment state (enrolled, pendingReenrollment, stale, outOfScope, managedElsewhere, retired) and a readable reason; the summary counts every device, the devices come one page at a time by id. Refused attempts: GET /reports/enrollment/refused", "parameters": [*paging, {"name": "state", "in": "query", "schema": enrollment_state, "description": "Only devices in this state"},
     {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}, "description": "csv (or Accept: text/csv): every device (paging does not apply), streamed as it is read; columns deviceId, deviceName, platform, state, reason, enrolledAt, lastCheckInAt"}],
   "responses": {"200": {"description": "The report (JSON), or every row as CSV", "content": {"application/json": {"schema": ref("EnrollmentReport")}, "text/csv": {"schema": {"type": "string"}}}}, **errs("400", "401")}}},
 "/api/v1/reports/enrollment/refused": {"get": {"operationId": "refusedEnrollments", "summary": "Refused enrollment attempts (unknown, expired, used-up or revoked token, bad key, bad proof), newest first, kept 30 days and at most 10000 per tenant. Attempts with an unknown token are shown only on a single-tenant server", "parameters": paging,
   "responses": {"200": resp("Attempts", listof("attempts", "RefusedEnrollment")), **errs("400", "401")}}},
 "/api/v1/templates": {"get": {"operationId": "listTemplates", "summary": "Policy templates with their setting counts per platform", "responses": {"200": resp("Templates", {"type": "object", "required": ["templates"], "properties": {"templates": {"type": "array", "items": ref("Template")}}}), **errs("401")}}},
 "/api/v1/catalog": {"get": {"operationId": "listCatalog", "summary": "Settings of the catalog, optionally for one platform and template", "parameters": [
     {"name": "platform", "in": "query", "schema": {"type": "string", "enum": ["linux", "macos", "windows"]}},
     {"name": "template", "in": "query", "schema": {"type": "string", "enum": ["antivirus", "antivirusExclusions", "edr", "securityExperience", "networkProtection", "attackSurfaceReduction", "firewall", "firewallRules"]}}],
   "responses": {"200": resp("Settings", {"type": "object", "required": ["settings"], "properties": {"settings": {"type": "array", "items": ref("SettingDefinition")}}}), **errs("400", "401")}}},
 "/api/v1/catalog/settings/{id}": {"get": {"operationId": "getCatalogSetting", "summary": "One setting; Windows ids contain slashes (Defender/AllowRealtimeMonitoring) and may be sent as they are", "parameters": [
     {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
     {"name": "platform", "in": "query", "schema": {"type": "string", "enum": ["linux", "macos", "windows"]}, "description": "Needed when the id is defined differently on several platforms"}],
   "responses": {"200": resp("The setting", ref("SettingDefinition")), **errs("400", "401", "404")}}},
 "/api/v1/policies/{id}/preview": {"post": {"operationId": "previewPolicy", "summary": "Impact of proposed settings and/or assignments, without saving: devices that change, settings on how many devices, conflicts that appear or go", "parameters": [idp],
   "requestBody": body({"type": "object", "properties": {"settings": {"type": ["object", "null"], "additionalProperties": True}, "assignments": {"oneOf": [ref("Assignments"), {"type": "null"}]}}}),
   "responses": {"200": resp("Impact", ref("ImpactPreview")), **errs("400", "401", "404", "413")}}},
 "/device/v1/enroll": {"post": {"operationId": "enroll", "summary": "Enroll a device with an enrollment token and its public key", "security": [], "tags": ["device"], "requestBody": body(ref("EnrollRequest")), "responses": {"201": resp("Enrolled", ref("EnrollResponse")), "202": resp("The hardware id is enrolled with another key: the new key waits for an administrator's approval", ref("EnrollResponse")), "403": resp("Signed with a retired device's key", ref("Error")), "429": resp("Too many requests from this address or device (Retry-After says when to come back)", ref("Error")), **errs("400", "401", "413")}}},
 "/api/v1/session": {
   "post": {"operationId": "signIn", "summary": "Sign in: sets an HttpOnly, Secure, SameSite=Strict session cookie and answers the CSRF token that changes made with the cookie carry in X-CSRF-Token", "security": [], "requestBody": body({"type": "object", "required": ["email", "password"], "properties": {"email": str_, "password": str_}}),
     "responses": {"200": resp("Signed in", ref("Session")), "429": resp("Too many failed sign-ins from this address, or the account is locked (Retry-After says for how long)", ref("Error")), **errs("400", "401", "413")}},
   "get": {"operationId": "currentSession", "summary": "Who is signed in (or which token is used), with the role", "responses": {"200": resp("The caller", ref("Session")), **errs("401")}},
   "delete": {"operationId": "signOut", "summary": "Sign out: the session ends on the server", "responses": {"204": resp("Signed out"), **errs("401")}}},
 "/api/v1/api-tokens": {
   "post": {"operationId": "createAPIToken", "summary": "Create an API token with a role (the secret is shown once)", "requestBody": body({"type": "object", "required": ["name", "role"], "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"}, "role": role, "expiresInDays": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650}}}),
     "responses": {"201": resp("Created", {"type": "object", "required": ["token", "apiToken"], "properties": {"token": str_, "apiToken": ref("APIToken")}}), **errs("400", "401", "413")}},
   "get": {"operationId": "listAPITokens", "summary": "List API tokens (without secrets)", "parameters": paging, "responses": {"200": resp("Tokens", listof("apiTokens", "APIToken")), **errs("400", "401")}}},
 "/api/v1/api-tokens/{id}": {"delete": {"operationId": "revokeAPIToken", "summary": "Revoke an API token: its next request gets 401", "parameters": [idp], "responses": {"204": resp("Revoked"), **errs("401", "404")}}},
 "/api/v1/users": {
   "post": {"operationId": "createUser", "summary": "Create a user who signs in to the admin center", "requestBody": body({"type": "object", "required": ["email", "displayName", "role", "password"], "properties": {"email": str_, "displayName": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"}, "role": role, "password": {"type": "string", "minLength": 12}}}),
     "responses": {"201": resp("Created", ref("User")), "409": resp("Email taken", ref("Error")), **errs("400", "401", "413")}},
   "get": {"operationId": "listUsers", "summary": "List users", "parameters": paging, "responses": {"200": resp("Users", listof("users", "User")), **errs("400", "401")}}},
 "/api/v1/users/{id}": {
   "get": {"operationId": "getUser", "summary": "Get a user", "parameters": [idp], "responses": {"200": resp("The user", ref("User")), **errs("401", "404")}},
   "patch": {"operationId": "updateUser", "summary": "Change a user's name, role or password (a new role or password ends the user's sessions)", "parameters": [idp], "requestBody": body({"type": "object", "properties": {"displayName": {"type": ["string", "null"]}, "role": {"oneOf": [role, {"type": "null"}]}, "password": {"type": ["string", "null"]}}}),
     "responses": {"200": resp("The user", ref("User")), **errs("400", "401", "404", "413")}},
   "delete": {"operationId": "deleteUser", "summary": "Delete a user and end their sessions", "parameters": [idp], "responses": {"204": resp("Deleted"), **errs("401", "404")}}},
 "/api/v1/audit": {"get": {"operationId": "listAuditEvents", "summary": "The audit log, newest first (append-only: no route edits or deletes entries)", "parameters": paging + [
     {"name": "actor", "in": "query", "schema": str_, "description": "actor id or name"}, {"name": "action", "in": "query", "schema": str_, "description": "e.g. policy.update"},
     {"name": "targetId", "in": "query", "schema": str_}, {"name": "since", "in": "query", "schema": dt}, {"name": "until", "in": "query", "schema": dt}],
   "responses": {"200": resp("Entries", listof("events", "AuditEvent")), **errs("400", "401")}}},
 "/device/v1/check-in": {"post": {"operationId": "checkIn", "summary": "Compare configuration hashes; long-polls up to waitSeconds", "security": dev_sec, "tags": ["device"], "requestBody": body(ref("CheckInRequest")), "responses": {"200": resp("Unchanged, or the new configuration", ref("CheckInResponse")), "403": resp("Device retired (code device_retired)", ref("Error")), "429": resp("Too many requests from this address or device (Retry-After says when to come back)", ref("Error")), **errs("400", "401", "413")}}},
 "/api/v1/reports/drift": {"get": {"operationId": "driftReport", "summary": "Drift events of the tenant, newest first: managed values agents found changed behind their back and put back", "parameters": paging + [{"name": "device", "in": "query", "description": "only this device's events", "schema": {"type": "string", "minLength": 1, "maxLength": 100}}],
   "responses": {"200": resp("Drift events", listof("events", "DriftEvent")), **errs("400", "401", "404")}}},
 "/device/v1/reports": {"post": {"operationId": "report", "summary": "Report per-setting results for a configuration hash (idempotent)", "security": dev_sec, "tags": ["device"], "requestBody": body(ref("StatusReport")), "responses": {"200": resp("Stored: the report is about the device's current configuration (stored once; the same report again changes nothing)", ref("StatusReportResponse")), "409": resp("configuration_outdated: the report is about another configuration than the device's current one and settles nothing (its drift events are kept); the agent drops it and checks in", ref("Error")), "403": resp("Device retired", ref("Error")), "429": resp("Too many requests from this address or device (Retry-After says when to come back)", ref("Error")), **errs("400", "401", "413")}}},
}
dt = {"type": "string", "format": "date-time"}
summary = {"type": "object", "required": ["succeeded", "error", "conflict", "pending", "notApplicable"], "properties": {k: {"type": "integer"} for k in ["succeeded", "error", "conflict", "pending", "notApplicable"]}}
policyref = {"type": "object", "required": ["id", "name", "revision"], "properties": {"id": str_, "name": str_, "revision": {"type": "integer"}, "groupIds": {"type": "array", "items": str_}}}
inventory = {"type": "object", "required": ["hostname", "platform", "osVersion", "hardwareId", "agentVersion", "mdmEnrolled"], "properties": {
  "hostname": {"type": "string", "minLength": 1, "maxLength": 255}, "platform": {"type": "string", "enum": ["linux", "macos", "windows", "windowsServer"]},
  "osVersion": {"type": "string", "maxLength": 200}, "hardwareId": {"type": "string", "minLength": 1, "maxLength": 256}, "agentVersion": {"type": "string", "maxLength": 100},
  "mdmEnrolled": {"type": "boolean"}, "defenderManagedElsewhere": {"type": "boolean"}, "defenderInstalled": {"type": "boolean"}, "tags": {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 100}},
  "defender": {"$ref": "#/components/schemas/DefenderStatus"}}}
short = {"type": "string", "maxLength": 500}
defender_status = {"type": "object", "required": ["installed"], "description": "Defender for Endpoint as the agent read it (mdatp health / Get-MpComputerStatus); absent fields: not reported", "properties": {
  "installed": {"type": "boolean"}, "version": short, "healthy": {"type": "boolean"}, "healthIssues": {"type": "array", "maxItems": 50, "items": short},
  "realTimeProtectionEnabled": {"type": "boolean"}, "definitionsVersion": short, "definitionsUpdatedAt": {"type": "string", "format": "date-time", "maxLength": 500},
  "definitionsStatus": short, "organizationId": short, "passiveMode": {"type": "boolean"}, "tamperProtection": short, "detail": short}}
ACTOR = {"type": "object", "required": ["type", "id", "name"], "properties": {"type": {"type": "string", "enum": ["user", "apiToken", "device", "system"]}, "id": str_, "name": str_}}
textchange = {"type": "object", "required": ["oldValue", "newValue"], "properties": {"oldValue": str_, "newValue": str_}}
settingvalue = {"type": "object", "required": ["settingId", "value"], "properties": {"settingId": str_, "value": {}}}
schemas = {
 "Session": {"type": "object", "required": ["principal", "role"], "properties": {"principal": str_, "role": role, "user": ref("User"), "csrfToken": str_, "expiresAt": dt}},
 "User": {"type": "object", "required": ["id", "email", "displayName", "role", "createdAt", "updatedAt"], "properties": {"id": str_, "email": str_, "displayName": str_, "role": role, "createdAt": dt, "updatedAt": dt, "lockedUntil": dt}},
 "APIToken": {"type": "object", "required": ["id", "name", "role", "createdAt", "createdBy"], "properties": {"id": str_, "name": str_, "role": role, "createdAt": dt, "createdBy": str_, "expiresAt": dt, "lastUsedAt": dt, "revokedAt": dt}},
 "AuditEvent": {"type": "object", "required": ["id", "at", "actor", "action", "target"], "properties": {"id": str_, "at": dt,
   "actor": {"type": "object", "required": ["type", "id", "name"], "properties": {"type": {"type": "string", "enum": ["user", "apiToken", "device", "system"]}, "id": str_, "name": str_, "sourceAddress": str_}},
   "action": str_, "target": {"type": "object", "required": ["type", "id", "name"], "properties": {"type": str_, "id": str_, "name": str_}}, "oldValue": {}, "newValue": {}}},
 "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": str_, "message": str_, "details": {}, "requestId": {"type": "string", "description": "The request's id, also in the X-Request-Id header and the server's log lines"}}}}},
 "EnrollmentTokenRequest": {"type": "object", "required": ["name", "expiresInHours"], "properties": {"allowReenrollment": {"type": ["boolean", "null"], "description": "devices may enroll again under an existing hardware id with a new key (re-imaging); otherwise that waits for approval"}, "name": {"type": "string", "minLength": 1, "maxLength": 200}, "expiresInHours": {"type": "integer", "minimum": 1, "maximum": 8760}, "maxUses": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000}}},
 "CreatedEnrollmentToken": {"type": "object", "required": ["id", "name", "token", "expiresAt"], "properties": {"allowReenrollment": {"type": "boolean"}, "id": str_, "name": str_, "token": str_, "expiresAt": dt, "maxUses": {"type": "integer"}}},
 "EnrollmentToken": {"type": "object", "required": ["id", "name", "expiresAt", "uses", "createdAt"], "properties": {"allowReenrollment": {"type": "boolean"}, "id": str_, "name": str_, "expiresAt": dt, "maxUses": {"type": "integer"}, "uses": {"type": "integer"}, "revokedAt": dt, "createdAt": dt}},
 "OnboardingPackageRequest": {"type": "object", "required": ["platform"], "description": "Either name and expiresInHours (and maxUses) to create an enrollment token, or enrollmentTokenId with enrollmentToken (its secret: the server keeps only a hash) to use an existing one.", "properties": {
   "platform": {"type": "string", "enum": ["linux", "macos", "windows"]},
   "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 200}, "expiresInHours": {"type": ["integer", "null"], "minimum": 1, "maximum": 8760}, "maxUses": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
   "allowReenrollment": {"type": ["boolean", "null"]}, "enrollmentTokenId": {"type": ["string", "null"]}, "enrollmentToken": {"type": ["string", "null"]}}},
 "OnboardingPackage": {"type": "object", "required": ["format", "serverURL", "tenantId", "enrollmentToken"], "properties": {
   "format": {"type": "string", "enum": ["palisade-onboarding-package/1"]}, "serverURL": {"type": "string", "description": "The server's public URL (--public-url)"}, "tenantId": str_,
   "platform": {"type": "string", "enum": ["linux", "macos", "windows"]}, "enrollmentTokenId": str_, "enrollmentToken": {"type": "string", "description": "The secret"}, "expiresAt": dt,
   "caCertificate": {"type": "string", "description": "PEM of the CA the agent pins; absent when the server's certificate chains to a public CA"},
   "caSHA256": {"type": "string", "description": "SHA-256 of the CA certificate's DER, as OpenSSL prints it (AB:CD:...)"},
   "installCommand": {"type": "array", "items": str_, "description": "Command lines for the platform: place the package, palisade agent enroll --package FILE, run the agent as a service"}}},
 "Device": {"type": "object", "required": ["id", "name", "platform", "osVersion", "agentVersion", "managedBy", "enrollmentStatus", "enrolledAt", "tags"], "properties": {"pendingReenrollment": {"type": "object", "required": ["since", "publicKeySHA256"], "properties": {"since": dt, "sourceAddress": str_, "publicKeySHA256": str_}}, 
   "id": str_, "name": str_, "platform": {"type": "string", "enum": ["linux", "macos", "windows", "windowsServer"]}, "osVersion": str_, "hardwareId": str_, "agentVersion": str_,
   "managedBy": {"type": "string", "enum": ["palisade", "mdm", "other"]}, "mdmEnrolled": {"type": "boolean"}, "defenderInstalled": {"type": "boolean"},
   "defender": ref("DefenderStatus"), "defenderSummary": {"type": "string", "description": "e.g. Defender not installed, Defender healthy, Defender unhealthy: <issues>"},
   "enrollmentStatus": {"type": "string", "enum": ["enrolled", "retired"]}, "enrolledAt": dt, "lastCheckInAt": dt, "tags": {"type": "array", "items": str_, "description": "admin tags"}, "agentTags": {"type": "array", "items": str_, "description": "tags the agent reports"},
   "management": {"type": "object", "properties": {"state": {"type": "string", "enum": ["managed", "excluded"]}, "reason": str_}}, "stale": {"type": "boolean"},
   "syncRequestedAt": {"type": "string", "format": "date-time", "description": "Sync now was asked and the device has not reported since"},
   "reportState": {**state, "description": "The worst state over the device's settings (notApplicable when it receives nothing); on device lists and reads"}}},
 "GroupRequest": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": {"type": ["string", "null"]}, "members": {"type": ["array", "null"], "items": str_}, "membershipRule": {"type": ["string", "null"], "description": "Makes the group dynamic, e.g. device.platform -eq \"linux\" -and device.tags -contains \"prod\""},
   "groups": {"type": ["array", "null"], "items": str_, "description": "Groups nested in this static group; cycles are refused"}}},
 "Group": {"type": "object", "required": ["id", "name", "description", "memberCount", "createdAt"], "properties": {"id": str_, "name": str_, "description": str_, "membershipRule": str_, "nestedGroups": {"type": "array", "items": str_}, "memberCount": {"type": "integer", "description": "The group's own members: listed devices, or those its rule selects now; not those of nested groups"}, "createdAt": dt}},
 "DeviceProvenance": {"type": "object", "required": ["deviceId", "configurationHash", "policies", "settings", "conflicts"], "properties": {"deviceId": str_, "configurationHash": str_, "policies": {"type": "array", "items": policyref},
   "settings": {"type": "array", "items": {"type": "object", "required": ["settingId", "value", "policies"], "properties": {"settingId": str_, "value": {}, "policies": {"type": "array", "items": policyref}}}},
   "conflicts": {"type": "array", "items": {"type": "object", "required": ["settingId", "values"], "properties": {"settingId": str_, "values": {"type": "array", "items": {"type": "object", "properties": {"value": {}, "policies": {"type": "array", "items": policyref}}}}}}}}},
 "AddMembersRequest": {"type": "object", "properties": {"deviceIds": {"type": ["array", "null"], "items": str_}, "groupIds": {"type": ["array", "null"], "items": str_, "description": "Groups to nest"}}},
 "PolicyRequest": {"type": "object", "required": ["name", "platform", "template"], "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": {"type": ["string", "null"]},
   "platform": {"type": "string", "enum": ["linux", "macos", "windows"]}, "template": {"type": "string", "enum": ["antivirus", "antivirusExclusions", "edr", "securityExperience", "networkProtection", "attackSurfaceReduction", "firewall", "firewallRules"]},
   "settings": {"type": ["object", "null"], "description": "Setting id -> value; validated against the catalog for the platform and template.", "additionalProperties": True}}},
 "Assignments": {"type": "object", "properties": {"include": {"type": ["array", "null"], "items": str_}, "exclude": {"type": ["array", "null"], "items": str_}}},
 "Policy": {"type": "object", "required": ["id", "name", "description", "platform", "template", "revision", "settings", "assignments", "createdAt", "updatedAt"], "properties": {
   "id": str_, "name": str_, "description": str_, "platform": str_, "template": str_, "revision": {"type": "integer"}, "settings": {"type": "object", "additionalProperties": True},
   "assignments": {"type": "object", "required": ["include", "exclude"], "properties": {"include": {"type": "array", "items": str_}, "exclude": {"type": "array", "items": str_}}}, "createdAt": dt, "updatedAt": dt}},
 "PolicyReport": {"type": "object", "required": ["policyId", "revision", "summary", "devices"], "properties": {"policyId": str_, "revision": {"type": "integer"},
   "summary": {"type": "object", "required": ["succeeded", "error", "conflict", "pending", "notApplicable"], "properties": {k: {"type": "integer"} for k in ["succeeded", "error", "conflict", "pending", "notApplicable"]}},
   "devices": {"type": "array", "items": {"type": "object", "required": ["deviceId", "deviceName", "state", "revision", "stale"], "properties": {"deviceId": str_, "deviceName": str_, "state": state, "revision": {"type": "integer"}, "lastReportAt": dt, "stale": {"type": "boolean"}}}},
   "nextCursor": {"type": "string", "description": "Pass as ?cursor= for the next page; absent on the last page."}}},
 "PolicyReportDevice": {"type": "object", "required": ["deviceId", "deviceName", "state", "revision", "stale"], "properties": {"deviceId": str_, "deviceName": str_, "state": state, "revision": {"type": "integer"}, "lastReportAt": dt, "stale": {"type": "boolean"}}},
 "SettingCounts": {"type": "object", "required": ["settingId", "summary"], "properties": {"settingId": str_, "summary": summary}},
 "PolicySettingsReport": {"type": "object", "required": ["policyId", "revision", "settings"], "properties": {"policyId": str_, "revision": {"type": "integer"}, "settings": {"type": "array", "items": ref("SettingCounts")}}},
 "PolicySettingDevices": {"type": "object", "required": ["policyId", "settingId", "devices"], "properties": {"policyId": str_, "settingId": str_, "state": state,
   "devices": {"type": "array", "items": ref("PolicyReportDevice"), "description": "Each state is the setting's state on the device"}, "nextCursor": {"type": "string"}}},
 "DeviceHistoryEvent": {"type": "object", "required": ["id", "at", "kind", "subjectId", "subjectName", "reason"], "properties": {"id": str_, "at": dt,
   "kind": {"type": "string", "enum": ["policyState", "settingState", "drift"]}, "subjectId": {"type": "string", "description": "Policy id or setting id"}, "subjectName": str_,
   "oldState": {"type": "string", "description": "A state; absent when the policy or setting was not there before"}, "newState": {"type": "string", "description": "A state; absent when the policy or setting is no longer there"},
   "revision": {"type": "integer"}, "reason": str_}},
 "TenantOverview": {"type": "object", "required": ["devicesByPlatform", "devicesByState", "staleDevices", "retiredDevices", "policies", "policiesWithErrors", "devicesNeedingAttention", "devicesNeedingAttentionCount"], "properties": {
   "devicesByPlatform": {"type": "object", "additionalProperties": {"type": "integer"}}, "devicesByState": {"type": "object", "additionalProperties": {"type": "integer"}},
   "staleDevices": {"type": "integer"}, "retiredDevices": {"type": "integer"}, "policiesWithErrors": {"type": "integer"}, "devicesNeedingAttentionCount": {"type": "integer"},
   "policies": {"type": "array", "items": {"type": "object", "required": ["policyId", "policyName", "summary"], "properties": {"policyId": str_, "policyName": str_, "summary": summary}}},
   "devicesNeedingAttention": {"type": "array", "items": {"type": "object", "required": ["deviceId", "deviceName", "platform", "state"], "properties": {"deviceId": str_, "deviceName": str_, "platform": str_, "state": state}}}}},
 "SettingStatus": {"type": "object", "required": ["settingId", "state", "policies"], "properties": {"settingId": str_, "value": {}, "state": state, "detail": str_, "policies": {"type": "array", "items": policyref},
   "competingValues": {"type": "array", "items": {"type": "object", "required": ["value", "policies"], "properties": {"value": {}, "policies": {"type": "array", "items": policyref}}}}}},
 "RollbackRequest": {"type": "object", "required": ["revision"], "properties": {"revision": {"type": "integer", "minimum": 1}}},
 "PolicyRevisionSummary": {"type": "object", "required": ["revision", "name", "createdAt", "settingCount"], "properties": {"revision": {"type": "integer"}, "name": str_, "createdAt": dt, "createdBy": ACTOR, "restoredRevision": {"type": "integer", "description": "Set when this revision is a rollback: the revision it restored"}, "settingCount": {"type": "integer"}}},
 "PolicyRevision": {"type": "object", "required": ["policyId", "revision", "name", "description", "settings", "createdAt"], "properties": {"policyId": str_, "revision": {"type": "integer"}, "name": str_, "description": str_, "settings": {"type": "object", "additionalProperties": True}, "createdAt": dt, "createdBy": ACTOR, "restoredRevision": {"type": "integer"}}},
 "PolicyRevisionDiff": {"type": "object", "required": ["policyId", "revision", "against", "added", "removed", "changed"], "properties": {"policyId": str_, "revision": {"type": "integer"}, "against": {"type": "integer"},
   "name": textchange, "description": textchange,
   "added": {"type": "array", "items": settingvalue}, "removed": {"type": "array", "items": settingvalue},
   "changed": {"type": "array", "items": {"type": "object", "required": ["settingId", "oldValue", "newValue"], "properties": {"settingId": str_, "oldValue": {}, "newValue": {}}}}}},
 "SyncRequest": {"type": "object", "required": ["devices", "requestedAt"], "properties": {"devices": {"type": "integer", "description": "How many devices were asked"}, "requestedAt": dt}},
 "EnrollmentReport": {"type": "object", "required": ["summary", "devices"], "properties": {
   "summary": {"type": "object", "required": enrollment_state["enum"], "properties": {k: {"type": "integer"} for k in enrollment_state["enum"]}},
   "devices": {"type": "array", "items": {"type": "object", "required": ["deviceId", "deviceName", "platform", "state", "reason", "enrolledAt", "defender"], "properties": {"deviceId": str_, "deviceName": str_, "platform": {"type": "string", "enum": ["linux", "macos", "windows", "windowsServer"]}, "state": enrollment_state, "reason": str_, "enrolledAt": dt, "lastCheckInAt": dt, "defender": {"type": "string", "description": "Defender as the agent last read it: Defender not installed, Defender healthy, Defender unhealthy: ..., Defender not reported"}}}},
   "nextCursor": {"type": "string", "description": "Pass as ?cursor= for the next page; absent on the last page."}}},
 "RefusedEnrollment": {"type": "object", "required": ["id", "at", "code", "reason"], "properties": {"id": str_, "at": dt, "sourceAddress": str_, "hostname": {"type": "string", "description": "claimed, unverified"}, "platform": str_, "hardwareId": str_, "enrollmentTokenId": str_, "code": str_, "reason": str_}},
 "Inventory": inventory,
 "ImpactPreview": {"type": "object", "required": ["devicesEvaluated", "devicesChanged", "settings", "newConflicts", "resolvedConflicts"], "properties": {
   "devicesEvaluated": {"type": "integer"}, "devicesChanged": {"type": "integer"},
   **{k: {"type": "array", "items": {"type": "object", "required": ["settingId", "devices"], "properties": {"settingId": str_, "devices": {"type": "integer"}}}} for k in ["settings", "newConflicts", "resolvedConflicts"]}}},
 "Enforcement": {"type": "object", "required": ["platforms", "scope"], "properties": {
   "platforms": {"type": "object", "properties": {p: {"type": "boolean"} for p in ["linux", "macos", "windows", "windowsServer"]}, "additionalProperties": False},
   "scope": {"type": "string", "enum": ["all", "tagged"]}, "tag": {"type": ["string", "null"], "minLength": 1, "maxLength": 100, "pattern": "\\S"},
   "takeOver": {"type": ["object", "null"], "properties": {p: {"type": "boolean"} for p in ["linux", "macos", "windows", "windowsServer"]}, "additionalProperties": False}}},
 "DeviceSettings": {"type": "object", "required": ["staleAfterDays"], "properties": {"staleAfterDays": {"type": "integer", "minimum": 1, "maximum": 3650}}},
 "Template": {"type": "object", "required": ["id", "title", "platforms", "settingCounts"], "properties": {"id": str_, "title": str_, "platforms": {"type": "array", "items": str_}, "settingCounts": {"type": "object", "additionalProperties": {"type": "integer"}}}},
 "SettingType": {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string", "enum": ["boolean", "integer", "enumeration", "integerEnumeration", "string", "stringList", "enumerationList", "objectList", "keyedMap"]},
   "minimum": {"type": "integer"}, "maximum": {"type": "integer"}, "minLength": {"type": "integer"},
   "values": {"type": "array", "items": {"type": "object", "properties": {"value": str_, "label": str_}}},
   "fields": {"type": "array", "items": {"type": "object", "properties": {"name": str_, "required": {"type": "boolean"}, "type": {"$ref": "#/components/schemas/SettingType"}, "onlyWhen": {"type": "array", "items": str_}}}},
   "keyField": str_, "maxItems": {"type": "integer"}, "keys": {"type": "array", "items": {"type": "object", "properties": {"value": str_, "label": str_}}}, "value": {"$ref": "#/components/schemas/SettingType"}}},
 "SettingDefinition": {"type": "object", "required": ["id", "platforms", "template", "title", "description", "type", "merge"], "properties": {"id": str_, "platforms": {"type": "array", "items": str_}, "template": str_, "title": str_, "description": str_,
   "type": {"$ref": "#/components/schemas/SettingType"}, "merge": {"type": "string", "enum": ["conflict", "union", "keyedUnion"]}, "defaultValue": {}, "registry": {"type": "object", "description": "Windows: key, valueName, encoding and enabler of the registry value"}}},
 "EnrollRequest": {"type": "object", "required": ["enrollmentToken", "publicKey", "inventory"], "properties": {"enrollmentToken": str_, "publicKey": {"type": "string", "description": "PEM P-256 public key (SubjectPublicKeyInfo)"}, "inventory": ref("Inventory")}},
 "EnrollResponse": {"type": "object", "required": ["deviceId", "tenantId", "reenrolled"], "properties": {"pendingApproval": {"type": "boolean"}, "deviceId": str_, "tenantId": str_, "reenrolled": {"type": "boolean"}}},
 "CheckInRequest": {"type": "object", "properties": {"configurationHash": str_, "waitSeconds": {"type": "integer", "minimum": 0, "maximum": 300}, "inventory": ref("Inventory")}},
 "DeviceConfiguration": {"type": "object", "required": ["platform", "settings"], "properties": {"platform": {"type": "string", "enum": ["linux", "macos", "windows"]}, "settings": {"type": "object", "additionalProperties": True},
   "leaveUntouched": {"type": "boolean", "description": "Another channel manages Defender's settings: write and remove nothing"}, "reason": {"type": "string"}}},
 "CheckInResponse": {"type": "object", "required": ["status", "configurationHash"], "properties": {"status": {"type": "string", "enum": ["unchanged", "changed"]}, "configurationHash": str_, "configuration": ref("DeviceConfiguration"), "reportRequested": {"type": "boolean", "description": "An administrator asked for a sync: apply again and report every setting (absent otherwise)"}, "schedule": ref("CheckInSchedule")}},
 "CheckInSchedule": {"type": "object", "description": "The check-in schedule the server sets (palisade serve --check-in-interval, --long-poll-seconds, --return-window); absent when it sets none. Every field optional: absent means the agent's own value.", "properties": {"checkInIntervalSeconds": {"type": "integer", "minimum": 0, "maximum": 3600, "description": "Shortest time between two check-ins answered unchanged at once"}, "waitSeconds": {"type": "integer", "minimum": 0, "maximum": 300, "description": "How long each check-in may be held open (long-poll length)"}, "returnWindowSeconds": {"type": "integer", "minimum": 1, "maximum": 3600, "description": "After failures, retry at a random time within this window (agents return spread over it after an outage)"}}},
 "StatusReport": {"type": "object", "required": ["configurationHash", "results"], "properties": {"configurationHash": str_, "detail": str_, "results": {"type": "array", "maxItems": 1000, "items": {"type": "object", "required": ["settingId", "state"], "properties": {"settingId": {"type": "string", "minLength": 1}, "state": {"type": "string", "enum": ["succeeded", "error", "notApplicable", "pending"]}, "detail": str_}}},
   "drift": {"type": "array", "maxItems": 1000, "description": "values found changed behind the agent's back and put back", "items": {"type": "object", "required": ["id", "settingId", "detectedAt"], "properties": {
     "id": {"type": "string", "minLength": 1, "maxLength": 100}, "settingId": {"type": "string", "minLength": 1, "maxLength": 300}, "found": {}, "restored": {}, "detail": {"type": "string", "maxLength": 1024}, "detectedAt": dt}}}}},
 "DefenderStatus": defender_status,
 "DriftEvent": {"type": "object", "required": ["id", "deviceId", "deviceName", "settingId", "detectedAt", "receivedAt"], "properties": {
   "id": str_, "deviceId": str_, "deviceName": str_, "settingId": {"type": "string", "description": "the setting, or (file) when the file changed without any managed value differing"},
   "found": {"description": "the value found; absent when it was missing"}, "restored": {"description": "the value put back; absent when the setting is no longer managed"},
   "detail": str_, "detectedAt": dt, "receivedAt": dt}},
 "StatusReportResponse": {"type": "object", "required": ["current"], "properties": {"current": {"type": "boolean", "description": "Always true (a report of another configuration is answered 409 configuration_outdated)"}}},
}
# Every admin operation can be refused with 403 when the caller's role lacks its permission
# (docs/PERMISSIONS.md), or when a session-cookie change lacks its CSRF token.
for path, operations in paths.items():
    for method, operation in operations.items():
        if path.startswith("/api/v1/") and operation.get("security") != []:
            operation["responses"]["403"] = resp("The caller's role lacks the permission this operation needs (code forbidden), or a change made with a session cookie lacks its CSRF token", ref("Error"))
doc = {"openapi": "3.1.0",
 "info": {"title": "Palisade API", "version": "1.0.0", "description": "Admin REST API (/api/v1, bearer token per tenant) and device protocol (/device/v1, signed device assertions; see docs/PROTOCOL.md), over HTTPS (the server's private CA is DATA_DIR/tls/ca.pem). Every error answers {\"error\": {\"code\", \"message\", \"details\"}}."},
 "servers": [{"url": "https://127.0.0.1:8080"}],
 "security": [{"bearerToken": []}],
 "paths": paths,
 "components": {"securitySchemes": {"bearerToken": {"type": "http", "scheme": "bearer", "description": "An API token of the tenant (the owner token is printed at first start and kept in DATA_DIR/admin-token)."},
   "deviceAssertion": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "PalisadeDevice <ES256 JWT signed by the device key; claims iss=sub=deviceId, aud=\"POST <path>\", iat, exp (<= 300 s), jti (single use), bh (hex SHA-256 of the body)>"}},
   "schemas": schemas}}
open(__import__('pathlib').Path(__file__).resolve().parents[1] / 'Sources/PalisadeServer/Resources/openapi.json', 'w').write(json.dumps(doc, indent=2) + "\n")

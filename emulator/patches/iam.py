"""IAM: deletion conflicts, paging and policy usage as AWS has them (see the server's docstring)."""

from faults import FAULTS, page


def patch():
    from moto.iam import responses as iam_responses
    from moto.iam.exceptions import DeleteConflictException
    from moto.iam.models import IAMBackend
    from moto.core.responses import ActionResult

    Response = iam_responses.IamResponse

    # GetAccountAuthorizationDetails leaves PolicyName (and PolicyId) out of each policy: moto's
    # serialiser looks for attributes of those names, and ManagedPolicy calls them name and id.
    from moto.iam.models import ManagedPolicy

    ManagedPolicy.policy_name = property(lambda self: self.name)
    ManagedPolicy.policy_id = property(lambda self: self.id)

    # AWS answers DeleteConflict while a user still has memberships or credentials; moto deletes
    # the user and leaves a ghost member in the group. A wrong deletion order must fail here.
    original_delete_user = IAMBackend.delete_user

    def delete_user(self, user_name):
        user = self.get_user(user_name)
        blockers = []
        if any(user in g.users for g in self.groups.values()):
            blockers.append("group memberships")
        if user.access_keys:
            blockers.append("access keys")
        if user.password is not None:
            blockers.append("a login profile")
        if user.signing_certificates:
            blockers.append("signing certificates")
        if user.ssh_public_keys:
            blockers.append("SSH public keys")
        if user.mfa_devices:
            blockers.append("MFA devices")
        if blockers:
            raise DeleteConflictException(
                f"Cannot delete entity, must remove {', '.join(blockers)} first."
            )
        return original_delete_user(self, user_name)

    IAMBackend.delete_user = delete_user

    original_delete_group = IAMBackend.delete_group

    def delete_group(self, group_name):
        group = self.get_group(group_name)
        if group.users:
            raise DeleteConflictException("Cannot delete entity, must remove users from group first.")
        if group.managed_policies:
            raise DeleteConflictException("Cannot delete entity, must detach all policies first.")
        if group.policies:
            raise DeleteConflictException("Cannot delete entity, must delete policies first.")
        return original_delete_group(self, group_name)

    IAMBackend.delete_group = delete_group

    original_delete_policy = IAMBackend.delete_policy

    def delete_policy(self, policy_arn):
        policy = self.get_policy(policy_arn)
        if policy.attachment_count > 0:
            raise DeleteConflictException("Cannot delete a policy attached to entities.")
        if len(policy.versions) > 1:
            raise DeleteConflictException("Cannot delete a policy with non-default versions.")
        return original_delete_policy(self, policy_arn)

    IAMBackend.delete_policy = delete_policy

    # Attaching a policy a user already has changes nothing on AWS; moto counts it again (for
    # groups it does not), so the policy's AttachmentCount stays above its real attachments
    # and DeletePolicy would answer DeleteConflict for ever.
    original_attach_user_policy = IAMBackend.attach_user_policy

    def attach_user_policy(self, policy_arn, user_name):
        if policy_arn in self.get_user(user_name).managed_policies:
            return None
        return original_attach_user_policy(self, policy_arn, user_name)

    IAMBackend.attach_user_policy = attach_user_policy

    # ListGroups: moto ignores PathPrefix and paging; AWS honours both.
    def list_groups(self):
        prefix = self._get_param("PathPrefix") or "/"
        groups = [g for g in self.backend.list_groups() if g.path.startswith(prefix)]
        cap = FAULTS.page_cap(self.current_account, "ListGroups")
        chunk, marker = page(groups, self._get_param("Marker"), self._get_param("MaxItems"), cap)
        result = {"Groups": chunk, "IsTruncated": marker is not None}
        if marker:
            result["Marker"] = marker
        return ActionResult(result)

    Response.list_groups = list_groups

    # GetGroup pages its members on AWS.
    def get_group(self):
        group = self.backend.get_group(self._get_param("GroupName"))
        cap = FAULTS.page_cap(self.current_account, "GetGroup")
        chunk, marker = page(group.users, self._get_param("Marker"), self._get_param("MaxItems"), cap)
        result = {"Group": group, "Users": chunk, "IsTruncated": marker is not None}
        if marker:
            result["Marker"] = marker
        return ActionResult(result)

    Response.get_group = get_group

    # GetAccountAuthorizationDetails pages on AWS (plumb reads IAM through it); moto returns
    # everything at once. Pages run over users, then groups, then policies.
    def get_account_authorization_details(self):
        details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
        items = (
            [("UserDetailList", u) for u in details["users"]]
            + [("GroupDetailList", g) for g in details["groups"]]
            + [("RoleDetailList", r) for r in details["roles"]]
            + [("Policies", p) for p in details["managed_policies"]]
        )
        cap = FAULTS.page_cap(self.current_account, "GetAccountAuthorizationDetails")
        chunk, marker = page(items, self._get_param("Marker"), self._get_param("MaxItems"), cap)
        result = {key: [item for k, item in chunk if k == key]
                  for key in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")}
        result["IsTruncated"] = marker is not None
        if marker:
            result["Marker"] = marker
        return ActionResult(result)

    Response.get_account_authorization_details = get_account_authorization_details

    # ListEntitiesForPolicy: moto ignores PolicyUsageFilter and lists attachments only. AWS
    # lists permissions-boundary uses under PermissionsBoundary. (moto keeps boundaries for
    # roles only, so only roles are found.)
    original_list_entities = Response.list_entities_for_policy

    def list_entities_for_policy(self):
        if self._get_param("PolicyUsageFilter") != "PermissionsBoundary":
            return original_list_entities(self)
        arn = self._get_param("PolicyArn")
        roles, _ = self.backend.list_roles(None, None, None)
        bounded = [r for r in roles if getattr(r, "permissions_boundary_arn", None) == arn]
        return ActionResult({
            "PolicyRoles": [{"RoleName": r.name, "RoleId": r.id} for r in bounded],
            "PolicyUsers": [], "PolicyGroups": [], "IsTruncated": False,
        })

    Response.list_entities_for_policy = list_entities_for_policy

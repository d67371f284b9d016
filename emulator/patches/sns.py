"""SNS: subscriptions that wait for their endpoint's confirmation (see the server's docstring)."""

PENDING = "PendingConfirmation"
# AWS asks these endpoints to confirm; until they do, the subscription is listed with the
# SubscriptionArn "PendingConfirmation" and cannot be unsubscribed. moto confirms at once.
CONFIRMED_BY_THE_ENDPOINT = ("email", "email-json", "http", "https")


def patch():
    from moto.core.responses import ActionResult
    from moto.sns import responses as sns_responses
    from moto.sns.exceptions import SNSInvalidParameter
    from moto.sns.models import SNSBackend

    original_subscribe = SNSBackend.subscribe

    def subscribe(self, topic_arn, endpoint, protocol):
        subscription = original_subscribe(self, topic_arn, endpoint, protocol)
        if protocol in CONFIRMED_BY_THE_ENDPOINT:
            subscription.attributes["PendingConfirmation"] = True
        return subscription

    SNSBackend.subscribe = subscribe

    def pending(subscription):
        return subscription.attributes.get("PendingConfirmation") is True

    def listed(subscription):
        return {
            "TopicArn": subscription.topic.arn,
            "Protocol": subscription.protocol,
            "SubscriptionArn": PENDING if pending(subscription) else subscription.arn,
            "Owner": subscription.account_id,
            "Endpoint": subscription.endpoint,
        }

    def list_subscriptions_by_topic(self):
        subscriptions, token = self.backend.list_subscriptions_by_topic(
            self._get_param("TopicArn"), next_token=self._get_param("NextToken")
        )
        result = {"Subscriptions": [listed(s) for s in subscriptions]}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    sns_responses.SNSResponse.list_subscriptions_by_topic = list_subscriptions_by_topic

    original_unsubscribe = SNSBackend.unsubscribe

    def unsubscribe(self, subscription_arn):
        if subscription_arn == PENDING:
            raise SNSInvalidParameter("Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1")
        return original_unsubscribe(self, subscription_arn)

    SNSBackend.unsubscribe = unsubscribe

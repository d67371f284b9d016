"""Budgets: the calls moto does not serve, AWS's errors and amounts (see the server's docstring)."""

import json


def patch():
    """moto serves create/describe/delete of budgets and notifications only (UpdateBudget,
    UpdateNotification and every subscriber call answer HTTP 500) and is lax where AWS is not.
    These fill the gaps over moto's own store, with AWS's errors."""
    from moto.budgets import responses as budgets_responses
    from moto.budgets.exceptions import DuplicateRecordException, NotFoundException
    from moto.budgets.models import Notification

    Response = budgets_responses.BudgetsResponse

    def key(details):
        return (details.get("NotificationType"), details.get("ComparisonOperator"),
                float(details.get("Threshold", 0)), details.get("ThresholdType", "PERCENTAGE"))

    def budget_of(self, verb):
        account, name = self._get_param("AccountId"), self._get_param("BudgetName")
        budget = self.backend.budgets[account].get(name)
        if budget is None:
            raise NotFoundException(f"Unable to {verb} - the budget {name} doesn't exist.")
        return budget

    def notification_of(budget, details, verb):
        for notification in budget.notifications:
            if key(notification.details) == key(details):
                return notification
        raise NotFoundException(f"Unable to {verb} - the notification doesn't exist.")

    def refuse_scientific(budget):
        amount = str((budget.get("BudgetLimit") or {}).get("Amount", ""))
        if "e" in amount.lower():
            from moto.core.exceptions import JsonRESTError
            raise JsonRESTError("InvalidParameterException", f"Invalid amount: {amount}")

    def update_budget(self):
        new = self._get_param("NewBudget")
        refuse_scientific(new)
        account = self._get_param("AccountId")
        budget = self.backend.budgets[account].get(new["BudgetName"])
        if budget is None:
            raise NotFoundException(f"Unable to update budget - the budget {new['BudgetName']} doesn't exist.")
        time_period = new.get("TimePeriod") or budget.budget.get("TimePeriod")
        budget.budget = dict(new)
        budget.budget["TimePeriod"] = time_period
        return json.dumps({})

    def describe_notifications_for_budget(self):
        budget = budget_of(self, "describe notifications")
        return json.dumps({"Notifications": [n.details for n in budget.notifications]})

    def create_notification(self):
        budget = budget_of(self, "create notification")
        details = self._get_param("Notification")
        if any(key(n.details) == key(details) for n in budget.notifications):
            raise DuplicateRecordException(record_type="notification", record_name=str(key(details)))
        budget.notifications.append(Notification(details, list(self._get_param("Subscribers", []))))
        return json.dumps({})

    def delete_notification(self):
        budget = budget_of(self, "delete notification")
        notification = notification_of(budget, self._get_param("Notification"), "delete notification")
        budget.notifications.remove(notification)
        return json.dumps({})

    def update_notification(self):
        budget = budget_of(self, "update notification")
        notification = notification_of(budget, self._get_param("OldNotification"), "update notification")
        new = self._get_param("NewNotification")
        if key(new) != key(notification.details) and any(key(n.details) == key(new) for n in budget.notifications):
            raise DuplicateRecordException(record_type="notification", record_name=str(key(new)))
        notification.details = new
        return json.dumps({})

    def describe_subscribers_for_notification(self):
        budget = budget_of(self, "describe subscribers")
        notification = notification_of(budget, self._get_param("Notification"), "describe subscribers")
        return json.dumps({"Subscribers": list(notification.subscribers or [])})

    def create_subscriber(self):
        budget = budget_of(self, "create subscriber")
        notification = notification_of(budget, self._get_param("Notification"), "create subscriber")
        subscriber = self._get_param("Subscriber")
        notification.subscribers = list(notification.subscribers or [])
        if subscriber in notification.subscribers:
            raise DuplicateRecordException(record_type="subscriber", record_name=subscriber.get("Address", ""))
        notification.subscribers.append(subscriber)
        return json.dumps({})

    def delete_subscriber(self):
        budget = budget_of(self, "delete subscriber")
        notification = notification_of(budget, self._get_param("Notification"), "delete subscriber")
        subscriber = self._get_param("Subscriber")
        if subscriber not in (notification.subscribers or []):
            raise NotFoundException("Unable to delete subscriber - the subscriber doesn't exist.")
        notification.subscribers.remove(subscriber)
        # AWS: "Deleting the last subscriber to a notification also deletes the notification."
        if not notification.subscribers:
            budget.notifications.remove(notification)
        return json.dumps({})

    # AWS answers large limits in scientific notation (Java's BigDecimal form: `1.53E+7`);
    # moto echoes what was sent.
    from decimal import Decimal, InvalidOperation

    def as_aws_amount(budget):
        limit = budget.get("BudgetLimit") or {}
        try:
            amount = Decimal(str(limit.get("Amount")))
        except (InvalidOperation, TypeError):
            return budget
        if amount >= Decimal(10_000_000):
            limit["Amount"] = str(amount.normalize())
        return budget

    original_create_budget = Response.create_budget

    def create_budget(self):
        refuse_scientific(self._get_param("Budget"))
        return original_create_budget(self)

    original_describe_budget = Response.describe_budget
    original_describe_budgets = Response.describe_budgets

    def describe_budget(self):
        answer = json.loads(original_describe_budget(self))
        answer["Budget"] = as_aws_amount(answer["Budget"])
        return json.dumps(answer)

    def describe_budgets(self):
        answer = json.loads(original_describe_budgets(self))
        answer["Budgets"] = [as_aws_amount(b) for b in answer.get("Budgets") or []]
        return json.dumps(answer)

    for handler in (create_budget, describe_budget, describe_budgets, update_budget, describe_notifications_for_budget, create_notification,
                    delete_notification, update_notification, describe_subscribers_for_notification,
                    create_subscriber, delete_subscriber):
        setattr(Response, handler.__name__, handler)

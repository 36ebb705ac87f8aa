"""streamrec's ``faust -A app`` commands."""

"""The K8s-watch worker pool example: a client-go-faithful controller on gochan."""

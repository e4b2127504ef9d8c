"""The JSON API beside the HTML (/api/v1/): the same product, the same rules.

Every write goes through `messaging.actions`, every private read through
`messaging.access`, every list through `messaging.selectors`: this package only
turns requests into those calls and their results into JSON.
"""

"""berth's rules, each written once, in the standard library only.

Config, the importer, the components, the renderers and the policy pack all judge images, credentials
and containers the same way because they import these modules; nothing here imports the rest of berth.
"""

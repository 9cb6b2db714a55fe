-- has_option(value, option): whether a multi-select property's value (options joined by
-- ';', as HubSpot writes them) holds the option; every rule may call it.
create or replace temp macro has_option(value, option) as list_contains(
    list_transform(string_split(coalesce(value, ''), ';'), lambda x: trim(x)), option)
